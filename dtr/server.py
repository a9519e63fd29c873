"""The production server: gunicorn, gthread worker (one process, many threads), so that
in-process state (upload hash states, the scheduler thread) exists once."""

from gunicorn.app.base import BaseApplication

from .tls import ReloadingContext


class DTRServer(BaseApplication):
    def __init__(self, app_factory, bind, threads, certificate=None):
        self.app_factory = app_factory
        self.options = {
            "bind": bind,
            "workers": 1,
            "worker_class": "gthread",
            "threads": threads,
            "timeout": 120,
            "graceful_timeout": 10,
            "keepalive": 75,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "info",
            "control_socket_disable": True,
        }
        if certificate is not None:
            cert_path, key_path = certificate
            reloading = ReloadingContext(cert_path, key_path)
            self.options.update(
                certfile=str(cert_path),
                keyfile=str(key_path),
                ssl_context=lambda _conf, _default: reloading.current(),
            )
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.app_factory()
