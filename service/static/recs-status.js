// The film page while its list is computed (a file, not inline: the pages' CSP allows no inline script).
// Poll the list's status and reload once it is fresh (every 2 s, for at most 5 minutes).
(function () {
  var note = document.getElementById("recs-status");
  var url = "/api/v1/films/" + encodeURIComponent(note.dataset.film) + "/recommendations?limit=1";
  var extra = note.querySelector(".js-only");
  var tries = 0;
  extra.hidden = false;
  function again(ms) {
    if (++tries < 150) { setTimeout(poll, ms); } else { extra.textContent = note.dataset.failed; }
  }
  function poll() {
    fetch(url, {headers: {"Accept": "application/json"}, cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d && d.status === "fresh") { location.reload(); } else { again(2000); } })
      .catch(function () { again(4000); });
  }
  setTimeout(poll, 1000);
})();
