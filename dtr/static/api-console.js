// The API console: Swagger UI over DTR's OpenAPI document. Requests carry the session
// cookie (same origin) and the CSRF token, so they run as the logged-in user.
document.addEventListener("DOMContentLoaded", () => {
  const element = document.getElementById("swagger-ui");
  if (!element || !window.SwaggerUIBundle) return;
  const csrf = element.dataset.csrf;
  window.SwaggerUIBundle({
    url: element.dataset.spec,
    domNode: element,
    deepLinking: true,
    // Tags start folded: Swagger UI 5.35 stops rendering partway (no error shown) when it
    // lays out every one of the document's 140-odd operations at once.
    docExpansion: "none",
    tryItOutEnabled: true,
    displayRequestDuration: true,
    requestInterceptor: (request) => {
      request.headers["X-CSRF-Token"] = csrf;
      request.credentials = "same-origin";
      return request;
    },
  });
});
