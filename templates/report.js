// Filters and search for the convtest report: no server, no library, no data but the DOM.
(() => {
  "use strict";
  const conversations = Array.from(document.querySelectorAll(".conv"));
  const suites = Array.from(document.querySelectorAll(".suite"));
  const statusBoxes = Array.from(document.querySelectorAll('.status-filter input[name="status"]'));
  const suiteSelect = document.getElementById("filter-suite");
  const tagSelect = document.getElementById("filter-tag");
  const search = document.getElementById("filter-search");
  const shown = document.getElementById("shown");
  const noMatch = document.getElementById("no-match");
  const haystacks = new Map(conversations.map((c) => [c, c.textContent.toLowerCase()]));

  function matches(conv, statuses, suite, tag, words) {
    if (!statuses.has(conv.dataset.status)) return false;
    if (suite && conv.dataset.suite !== suite) return false;
    if (tag && !conv.dataset.tags.split(" ").includes(tag)) return false;
    const text = haystacks.get(conv);
    return words.every((word) => text.includes(word));
  }

  function apply() {
    const statuses = new Set(statusBoxes.filter((box) => box.checked).map((box) => box.value));
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    let visible = 0;
    for (const conv of conversations) {
      const show = matches(conv, statuses, suiteSelect.value, tagSelect.value, words);
      conv.hidden = !show;
      if (show) visible += 1;
    }
    for (const suite of suites) {
      suite.hidden = !suite.querySelector(".conv:not([hidden])");
    }
    shown.textContent = `${visible} of ${conversations.length} shown`;
    noMatch.hidden = visible > 0 || conversations.length === 0;
  }

  function setAll(open) {
    for (const conv of conversations) {
      if (!conv.hidden) conv.open = open;
    }
  }

  function revealHash() {
    const target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
    if (!target) return;
    for (let node = target; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
      if (node.hidden) node.hidden = false;
    }
    target.scrollIntoView({ block: "start" });
  }

  for (const box of statusBoxes) box.addEventListener("change", apply);
  suiteSelect.addEventListener("change", apply);
  tagSelect.addEventListener("change", apply);
  search.addEventListener("input", apply);
  document.getElementById("expand-all").addEventListener("click", () => setAll(true));
  document.getElementById("collapse-all").addEventListener("click", () => setAll(false));
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement !== search) {
      event.preventDefault();
      search.focus();
    }
  });
  window.addEventListener("hashchange", revealHash);
  apply();
  revealHash();
})();
