from tests.support.images import simple_image


def test_push_and_pull_image(admin, repo):
    image = simple_image("smoke")
    digest = admin.push_image(repo, "v1", image)
    assert digest == image.digest
    response = admin.get_manifest(repo, "v1")
    assert response.status_code == 200
    assert response.content == image.manifest
    assert response.headers["Docker-Content-Digest"] == image.digest
    layer = admin.request("GET", f"/v2/{repo}/blobs/{admin.push_blob(repo, image.layers[0])}")
    assert layer.content == image.layers[0]
