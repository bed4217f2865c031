// reports/index.html: filters (theme, city, data nature) and text search over the cards. Plain JavaScript, no
// library, nothing loaded from elsewhere. A city section whose cards are all hidden is hidden too.
(function () {
  "use strict";
  var theme = document.getElementById("f-theme"), city = document.getElementById("f-city"),
      nature = document.getElementById("f-nature"), q = document.getElementById("f-q"),
      count = document.getElementById("f-count"), none = document.getElementById("f-none");
  var cards = Array.prototype.slice.call(document.querySelectorAll("article.card"));
  function norm(s) { return (s || "").normalize("NFKC").toLowerCase().trim(); }
  function apply() {
    var words = norm(q.value).split(/\s+/).filter(Boolean), shown = 0;
    cards.forEach(function (c) {
      var ok = (!theme.value || c.dataset.theme === theme.value) &&
               (!city.value || c.dataset.city === city.value) &&
               (!nature.value || c.dataset.nature === nature.value) &&
               words.every(function (w) { return norm(c.dataset.search).indexOf(w) >= 0; });
      c.hidden = !ok;
      if (ok) { shown += 1; }
    });
    document.querySelectorAll("section.index-city").forEach(function (s) {
      s.hidden = !s.querySelector("article.card:not([hidden])");
    });
    var internal = document.getElementById("internal");
    if (internal) { internal.hidden = !internal.querySelector("article.card:not([hidden])"); }
    count.textContent = shown + " / " + cards.length + " 件を表示";
    none.hidden = shown > 0;
  }
  [theme, city, nature].forEach(function (el) { el.addEventListener("change", apply); });
  q.addEventListener("input", apply);
  apply();
})();
