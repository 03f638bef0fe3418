// The interactive API reference: Swagger UI over the document of this host's surface
// (/schema/openapi.json: the LAO's operations on its host, the operator's on the base domain).
// "Try it out" calls the server the document names: this very host.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/schema/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    displayOperationId: true,
    defaultModelsExpandDepth: 0,
    validatorUrl: null,
  });
});
