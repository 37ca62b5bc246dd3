// Renders /asyncapi.json (AsyncAPI React standalone bundle) and /openapi.json (Swagger UI), both
// served by this server: no request leaves the host (no validator badge, no fonts, no CDN).
(function () {
  'use strict';
  var rendered = {};
  function render(tab) {
    if (rendered[tab]) return;
    rendered[tab] = true;
    if (tab === 'rest') {
      window.ui = SwaggerUIBundle({
        url: '/openapi.json',
        dom_id: '#swagger-ui',
        deepLinking: false,
        validatorUrl: null,
        presets: [SwaggerUIBundle.presets.apis],
        layout: 'BaseLayout',
      });
    } else {
      fetch('/asyncapi.json')
        .then(function (res) { return res.text(); })
        .then(function (schema) {
          AsyncApiStandalone.render(
            { schema: schema, config: { show: { sidebar: true, errors: true }, sidebar: { showServers: 'byDefault', showOperations: 'byDefault' } } },
            document.getElementById('asyncapi'),
          );
        });
    }
  }
  function show() {
    var tab = location.hash === '#rest' ? 'rest' : 'socket';
    document.querySelectorAll('[data-view]').forEach(function (el) { el.hidden = el.getAttribute('data-view') !== tab; });
    document.querySelectorAll('[data-tab]').forEach(function (el) {
      if (el.getAttribute('data-tab') === tab) el.setAttribute('aria-current', 'page');
      else el.removeAttribute('aria-current');
    });
    render(tab);
  }
  window.addEventListener('hashchange', show);
  show();
})();
