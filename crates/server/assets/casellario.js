/* Casellario dell'assistenza — miglioramenti progressivi (ES2017, nessuna
 * dipendenza). Ogni pagina funziona anche senza questo file.
 *  - form[data-upload]     invio con XMLHttpRequest e barra di avanzamento
 *  - [data-show-when]      campi condizionali ("NOME=V1|V2" o "NOME!=V1|V2")
 *  - form[data-confirm]    conferma prima dell'invio
 */
(function () {
  'use strict';

  var CONTROLS = 'input, select, textarea, button';

  // Numeri e dimensioni in formato italiano
  function fmt(n, digits) {
    return n.toLocaleString('it-IT', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function size(bytes) {
    if (bytes >= 1e9) return fmt(bytes / 1e9, 1) + ' GB';
    if (bytes >= 1e6) return fmt(bytes / 1e6, 1) + ' MB';
    if (bytes >= 1e3) return fmt(bytes / 1e3, 1) + ' kB';
    return fmt(bytes, 0) + ' byte';
  }

  // Invio con avanzamento
  function initUpload(form) {
    if (!window.FormData || !window.XMLHttpRequest) return;
    var progress = form.querySelector('[data-upload-progress]');
    var status = form.querySelector('[data-upload-status]');
    var busy = false;

    function say(text) { if (status) status.textContent = text; }

    form.addEventListener('submit', function (ev) {
      if (ev.defaultPrevented) return;          // es. annullato da data-confirm
      ev.preventDefault();
      if (busy) return;
      busy = true;

      var submitter = ev.submitter || form.querySelector('[type="submit"]');
      var data = new FormData(form);
      if (ev.submitter && ev.submitter.name) data.append(ev.submitter.name, ev.submitter.value);
      var buttons = Array.prototype.slice.call(form.querySelectorAll('button[type="submit"], button:not([type]), input[type="submit"]'));
      var wasDisabled = buttons.map(function (b) { return b.disabled; });
      buttons.forEach(function (b) { b.disabled = true; });

      function done() {
        busy = false;
        buttons.forEach(function (b, i) { b.disabled = wasDisabled[i]; });
        if (progress) progress.hidden = true;
      }

      var xhr = new XMLHttpRequest();
      var method = (form.getAttribute('method') || 'GET').toUpperCase();
      var action = (submitter && submitter.getAttribute('formaction')) || form.getAttribute('action') || window.location.href;
      xhr.open(method, action, true);
      xhr.setRequestHeader('X-Requested-With', 'XMLHttpRequest');
      xhr.setRequestHeader('Accept', 'application/json, text/html;q=0.9');

      if (progress) {
        progress.removeAttribute('value');     // indeterminato finché non arriva il primo evento
        progress.max = 100;
        progress.hidden = false;
      }
      say('Invio in corso…');

      xhr.upload.onprogress = function (e) {
        if (!e.lengthComputable || !e.total) return;
        var pct = Math.floor((e.loaded / e.total) * 100);
        if (progress) progress.value = pct;
        say('Invio in corso: ' + pct + '% (' + size(e.loaded) + ' di ' + size(e.total) + ')');
      };
      xhr.upload.onload = function () {
        if (progress) progress.removeAttribute('value');
        say('Elaborazione in corso…');
      };
      xhr.onerror = function () {
        done();
        say('Errore di rete: riprovare.');
      };
      xhr.onabort = function () {
        done();
        say('Invio interrotto.');
      };
      xhr.onload = function () {
        var type = (xhr.getResponseHeader('Content-Type') || '').toLowerCase();
        var body = xhr.responseText;
        if (type.indexOf('json') !== -1) {
          var json = null;
          try { json = JSON.parse(body); } catch (err) { json = null; }
          if (json && typeof json.location === 'string') {
            window.location.assign(json.location);
            return;
          }
          done();
          say(json && json.message ? String(json.message) : 'Risposta inattesa dal server (' + xhr.status + ').');
          return;
        }
        if (/text\/html/.test(type) || /^\s*</.test(body)) {
          // Pagina resa dal server (anche pagine d'errore): la mostriamo così com'è.
          if (xhr.responseURL && window.history && history.replaceState) {
            try { history.replaceState(null, '', xhr.responseURL); } catch (err) { /* origine diversa */ }
          }
          document.open();
          document.write(body);
          document.close();
          return;
        }
        done();
        say(xhr.status >= 400 ? 'Errore ' + xhr.status + ': ' + (body || xhr.statusText) : 'Invio completato.');
      };

      xhr.send(data);
    });
  }

  // Campi condizionali
  function parseRule(spec) {
    var m = /^\s*([^!=]+?)\s*(!?=)(.*)$/.exec(spec || '');
    if (!m) return null;
    return { name: m[1], negate: m[2] === '!=', values: m[3].split('|').map(function (v) { return v.trim(); }) };
  }

  function currentValue(scope, name) {
    var els = Array.prototype.filter.call(scope.querySelectorAll('[name]'), function (el) { return el.name === name; });
    var value = '';
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (el.disabled) continue;
      if (el.type === 'radio' || el.type === 'checkbox') {
        if (el.checked) return el.value;
      } else if (el.tagName === 'SELECT' && el.multiple) {
        var sel = Array.prototype.filter.call(el.options, function (o) { return o.selected; });
        if (sel.length) return sel[0].value;
      } else if (el.type !== 'hidden' || els.length === 1) {
        value = el.value;
      }
    }
    return value;
  }

  function setShown(el, shown) {
    var changed = el.hidden === shown;
    el.hidden = !shown;
    var ctrls = el.matches(CONTROLS) ? [el] : Array.prototype.slice.call(el.querySelectorAll(CONTROLS));
    ctrls.forEach(function (c) {
      if (shown && c.hasAttribute('data-cond-disabled')) {
        c.removeAttribute('data-cond-disabled');
        c.disabled = false;
        changed = true;
      } else if (!shown && !c.disabled) {
        c.disabled = true;
        c.setAttribute('data-cond-disabled', '');
        changed = true;
      }
    });
    return changed;
  }

  function evaluate(scope) {
    var nodes = scope.querySelectorAll('[data-show-when]');
    // Più passate: un campo nascosto può controllarne altri (catene).
    for (var pass = 0; pass < 5; pass++) {
      var changed = false;
      for (var i = 0; i < nodes.length; i++) {
        var rule = parseRule(nodes[i].getAttribute('data-show-when'));
        if (!rule) continue;
        var form = nodes[i].closest('form') || scope;
        var match = rule.values.indexOf(currentValue(form, rule.name)) !== -1;
        if (setShown(nodes[i], rule.negate ? !match : match)) changed = true;
      }
      if (!changed) break;
    }
  }

  // Conferma
  function initConfirm(form) {
    form.addEventListener('submit', function (ev) {
      if (!window.confirm(form.getAttribute('data-confirm'))) {
        ev.preventDefault();
        ev.stopImmediatePropagation();
      }
    });
  }

  function init() {
    // data-confirm prima di data-upload, così un annullamento blocca anche l'invio XHR.
    Array.prototype.forEach.call(document.querySelectorAll('form[data-confirm]'), initConfirm);
    Array.prototype.forEach.call(document.querySelectorAll('form[data-upload]'), initUpload);
    if (document.querySelector('[data-show-when]')) {
      evaluate(document);
      var onChange = function (ev) {
        if (ev.target && ev.target.name) evaluate(document);
      };
      document.addEventListener('change', onChange);
      document.addEventListener('input', onChange);
      // Dopo un reset il browser ripristina i valori senza eventi change.
      document.addEventListener('reset', function () { setTimeout(function () { evaluate(document); }, 0); });
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
