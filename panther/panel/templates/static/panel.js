// Panther admin: small progressive enhancements; every page works without this file.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  // "Select all" in a list's header ticks every row of the bulk form.
  document.querySelectorAll('[data-select-all]').forEach(function (box) {
    box.addEventListener('change', function () {
      box.closest('form').querySelectorAll('input[name="ids"]').forEach(function (row) { row.checked = box.checked; });
    });
  });
  // Filters apply as soon as one is chosen.
  document.querySelectorAll('select[data-autosubmit]').forEach(function (select) {
    select.addEventListener('change', function () { select.form.submit(); });
  });
  // A preview of a chosen image before it is uploaded.
  document.querySelectorAll('input[type=file][data-preview]').forEach(function (input) {
    input.addEventListener('change', function () {
      var preview = input.parentElement.querySelector('img.preview.new');
      var file = input.files && input.files[0];
      if (!preview || !file || file.type.indexOf('image/') !== 0) { if (preview) { preview.hidden = true; } return; }
      var reader = new FileReader();
      reader.onload = function () { preview.src = reader.result; preview.hidden = false; };
      reader.readAsDataURL(file);
    });
  });
  // JSON inputs are checked while typing; the server checks them again.
  document.querySelectorAll('textarea[data-json]').forEach(function (area) {
    area.addEventListener('input', function () {
      var text = area.value.trim();
      var ok = true;
      if (text) { try { JSON.parse(text); } catch (error) { ok = false; } }
      area.classList.toggle('bad', !ok);
      area.setCustomValidity(ok ? '' : 'Not valid JSON');
    });
  });
});
