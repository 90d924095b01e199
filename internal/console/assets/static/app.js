// Tributary console: refreshes the live parts of a page. An element with
// data-live="URL" is replaced, every data-every milliseconds, by the HTML
// fragment the server renders at URL (escaped by the server's templates;
// nothing here builds HTML from data). Polling stops once the fragment
// holds an element marked data-final, and a 401 sends the page to the
// sign-in form.
(function () {
  'use strict';

  function poll(el) {
    var every = parseInt(el.getAttribute('data-every') || '1000', 10);
    var url = el.getAttribute('data-live');
    function tick() {
      if (el.querySelector('[data-final]')) {
        return;
      }
      fetch(url, { headers: { 'X-Fragment': '1' }, credentials: 'same-origin', cache: 'no-store' })
        .then(function (r) {
          if (r.status === 401) {
            location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
            return null;
          }
          return r.text().then(function (t) { return { ok: r.ok, text: t }; });
        })
        .then(function (res) {
          if (!res) {
            return;
          }
          if (res.ok) {
            el.innerHTML = res.text;
            el.setAttribute('data-updated', String(Date.now()));
            el.removeAttribute('data-stale');
          } else {
            el.setAttribute('data-stale', res.text);
          }
          setTimeout(tick, every);
        })
        .catch(function () {
          el.setAttribute('data-stale', 'the control plane did not answer');
          setTimeout(tick, every * 2);
        });
    }
    setTimeout(tick, every);
  }

  // The browse form shows the offset or time field only when it applies.
  function browseFields() {
    var from = document.getElementById('from');
    if (!from || !document.getElementById('browse-form')) {
      return;
    }
    function sync() {
      var off = document.getElementById('offset');
      var time = document.getElementById('time');
      off.parentNode && off.toggleAttribute('disabled', from.value !== 'offset');
      time.toggleAttribute('disabled', from.value !== 'timestamp');
    }
    from.addEventListener('change', sync);
    sync();
  }

  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('[data-live]').forEach(poll);
    browseFields();
  });
})();
