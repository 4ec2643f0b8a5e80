/* kwscope report: draws the plotly figures from their embedded JSON, attaches the embedded audio,
   plays one recording at a time, and plays a recording when its point in the anomaly map is clicked.
   No network: figures, audio and plotly.js are all inside this file. */
(function () {
  "use strict";

  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  var AUDIO = readJSON("kw-audio") || {};   // clip id -> data URI
  var CLIPS = readJSON("kw-clips") || {};   // path -> {a: clip id, label, speaker, why}
  var npBar = document.getElementById("now-playing");
  var npText = document.getElementById("now-playing-text");
  var npAudio = document.getElementById("now-playing-audio");

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  // ------------------------------------------------------------------ audio elements
  document.querySelectorAll("audio[data-clip]").forEach(function (el) {
    var uri = AUDIO[el.getAttribute("data-clip")];
    if (uri) { el.src = uri; }
  });

  function showNowPlaying(path, note) {
    var c = CLIPS[path] || {};
    var bits = '<span class="path">' + esc(path) + "</span>";
    if (c.label) { bits += ' <span class="np-why">' + esc(c.label) + (c.speaker ? " · speaker " + esc(c.speaker) : "") + "</span>"; }
    if (note || c.why) { bits += ' <span class="np-why">' + esc(note || c.why) + "</span>"; }
    npText.innerHTML = "Now playing: " + bits;
    npText.setAttribute("data-path", path);
    npBar.classList.remove("idle");
    document.querySelectorAll("tr.playing").forEach(function (tr) { tr.classList.remove("playing"); });
  }

  // One sound at a time: starting any player pauses the others and names the clip in the bar.
  document.addEventListener("play", function (ev) {
    var target = ev.target;
    document.querySelectorAll("audio").forEach(function (el) {
      if (el !== target && !el.paused) { el.pause(); }
    });
    var path = target.getAttribute("data-path");
    if (path && target !== npAudio) {
      showNowPlaying(path);
      var row = target.closest("tr");
      if (row) { row.classList.add("playing"); }
    }
  }, true);

  function playPath(path) {
    var c = CLIPS[path];
    if (!c || !AUDIO[c.a]) {
      showNowPlaying(path, "not embedded in this page: only the ringed points of the map are playable");
      npAudio.removeAttribute("src");
      npAudio.removeAttribute("data-path");
      return Promise.resolve(false);
    }
    showNowPlaying(path);
    npAudio.src = AUDIO[c.a];
    npAudio.setAttribute("data-path", path);
    return npAudio.play().then(function () { return true; }, function (err) {
      npText.insertAdjacentHTML("beforeend", ' <span class="np-why">(press play: ' + esc(err.name) + ")</span>");
      return false;
    });
  }

  // ------------------------------------------------------------------ anomaly map: click to play
  function pathOfPoint(div, pt) {
    var cd = pt.customdata;
    if (cd === undefined) {
      var trace = pt.data || (div.data && div.data[pt.curveNumber]);
      var idx = pt.pointNumber !== undefined ? pt.pointNumber : pt.pointIndex;
      if (trace && trace.customdata && idx !== undefined) { cd = trace.customdata[idx]; }
    }
    if (Array.isArray(cd)) {
      var known = cd.filter(function (v) { return typeof v === "string" && CLIPS[v]; });
      cd = known.length ? known[0] : cd.filter(function (v) { return typeof v === "string"; })[0];
    }
    return typeof cd === "string" ? cd : null;
  }

  function wireClickToPlay(div) {
    div.on("plotly_click", function (ev) {
      if (!ev || !ev.points || !ev.points.length) { return; }
      var path = pathOfPoint(div, ev.points[0]);
      if (path) { playPath(path); }
    });
  }

  // ------------------------------------------------------------------ figures
  var CONFIG = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"],
                toImageButtonOptions: {format: "png", scale: 2}};

  function drawAll() {
    var divs = Array.prototype.slice.call(document.querySelectorAll("div.kw-plotly[data-spec]"));
    var chain = Promise.resolve();
    divs.forEach(function (div) {
      chain = chain.then(function () {
        var spec = readJSON(div.getAttribute("data-spec"));
        var layout = spec.layout || {};
        return Plotly.newPlot(div, spec.data, layout, CONFIG).then(function () {
          if (div.hasAttribute("data-click-to-play")) { wireClickToPlay(div); }
          div.setAttribute("data-rendered", "1");
        });
      }).catch(function (err) {
        console.error("kwscope: could not draw figure " + div.id + ": " + err);
        div.innerHTML = '<p class="empty">This figure could not be drawn (' + esc(err) + ").</p>";
      });
    });
    return chain.then(function () { document.body.setAttribute("data-plots-ready", "1"); });
  }

  // ------------------------------------------------------------------ example gallery: one label at a time
  var gallery = document.getElementById("examples-gallery");
  if (gallery) {
    gallery.classList.add("tabbed");
    document.querySelectorAll(".ex-tab").forEach(function (tab) {
      tab.addEventListener("click", function () {
        document.querySelectorAll(".ex-tab").forEach(function (t) { t.classList.toggle("active", t === tab); });
        gallery.querySelectorAll(".example").forEach(function (card) {
          var on = card.id === tab.getAttribute("data-target");
          card.classList.toggle("active", on);
          if (!on) { card.querySelectorAll("audio").forEach(function (a) { a.pause(); }); }
        });
      });
    });
  }

  window.kwscope = {playPath: playPath, clips: CLIPS};
  if (typeof Plotly === "undefined") {
    console.error("kwscope: plotly.js is missing from this page");
  } else {
    drawAll();
  }
})();
