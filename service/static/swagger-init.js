// Start Swagger UI on /api/docs (a file, not inline: the pages' CSP allows no inline script).
(function () {
  var node = document.getElementById("swagger-ui-container");
  var config = {url: node.dataset.specUrl, dom_id: "#swagger-ui-container"};
  var extra = JSON.parse(node.dataset.config || "{}");
  for (var name in extra) { config[name] = extra[name]; }
  window.addEventListener("load", function () { window.ui = SwaggerUIBundle(config); });
})();
