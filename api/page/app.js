// The page of the video-analysis service: upload a video, follow its session, show its
// results. A plain ES module without a framework or a build step, because the page must
// load from this server alone. The element ids are a contract with the browser tests
// (tests/browser/): add to them, never rename.

const API = "/api/v1/video";
const SESSION_ID = /^[A-Za-z0-9_-]{22,64}$/; // the document's SessionId pattern
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const CANCELLABLE = new Set(["queued", "processing"]);
const POLL_SECONDS = 2; // when an answer has no Retry-After
const MAX_POLL_SECONDS = 30; // the back-off cap while the server is unreachable
const STREAM_FAILURES_BEFORE_POLLING = 3; // EventSource retries on its own; a proxy that
// cuts or buffers streams makes it fail over and over, polling then works better
const SVG = "http://www.w3.org/2000/svg";
const STAGE_TEXT = {
  decode: "Reading the video", score: "Measuring motion", select: "Choosing highlights",
  render: "Rendering the reel", workout: "Counting reps",
};

const $ = (id) => document.getElementById(id);

// One session is watched at a time. `generation` grows whenever the watched session
// changes, so answers and events that arrive late for an earlier one are ignored.
const state = {
  sessionId: null, generation: 0, source: null, pollTimer: null, ended: false,
  pollDelay: 0, xhr: null, highlights: [], duration: 0,
};

/** An API answer that is not 2xx, with the problem's `detail` as its message. */
class ApiError extends Error {
  constructor(message, status, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

// ---- messages -------------------------------------------------------------------------

function setMessage(element, text) {
  element.textContent = text || "";
  element.hidden = !text;
}

function showError(text) { setMessage($("error"), text); }
function showNotice(text) { setMessage($("notice"), text); }
function clearMessages() { showError(""); showNotice(""); }

// Every error of the API is problem+json whose `detail` is written for people; anything
// else (a proxy's HTML page, an empty body) gets a plain sentence instead.
function problemText(status, statusText, bodyText) {
  try {
    const body = JSON.parse(bodyText);
    if (body && (body.detail || body.title)) return String(body.detail || body.title);
  } catch { /* not JSON: fall through */ }
  if (status === 0) return "The server cannot be reached: check your connection.";
  return `The server answered ${status}${statusText ? ` ${statusText}` : ""}.`;
}

// Retry-After is delta-seconds or an HTTP date (RFC 9110); null when absent or unusable.
function retryAfterSeconds(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value);
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, (when - Date.now()) / 1000);
}

async function api(method, path) {
  let response;
  try {
    response = await fetch(path, { method, headers: { Accept: "application/json" } });
  } catch {
    throw new ApiError(problemText(0, "", ""), 0, null);
  }
  if (!response.ok) {
    const text = await response.text().catch(() => "");
    throw new ApiError(problemText(response.status, response.statusText, text),
      response.status, retryAfterSeconds(response.headers.get("Retry-After")));
  }
  return response;
}

// ---- upload ---------------------------------------------------------------------------

function numberField(form, name, input) {
  // valueAsNumber normalises what the browser accepted ("1e2", "012") into the plain
  // decimals the API takes; empty means "the server's default", so nothing is sent.
  if (input.value === "" || Number.isNaN(input.valueAsNumber)) return;
  form.append(name, String(input.valueAsNumber));
}

function uploadBody(file) {
  // Options before the file: the server checks them as they arrive and refuses a bad one
  // before the whole video is sent.
  const form = new FormData();
  form.append("analysis", $("analysis").value);
  numberField(form, "target_duration", $("target-duration"));
  numberField(form, "max_highlights", $("max-highlights"));
  form.append("render", $("render").checked ? "true" : "false");
  form.append("file", file, file.name);
  return form;
}

function setUploading(uploading) {
  $("upload-fields").disabled = uploading;
  $("upload-button").disabled = uploading;
  $("abort-upload").disabled = !uploading;
  if (uploading) $("upload-state").hidden = false;
}

function showUploadProgress(sent, total) {
  const fraction = total > 0 ? Math.min(1, sent / total) : 0;
  $("upload-progress").value = fraction;
  const percent = `${Math.floor(fraction * 100)} %`;
  // Once every byte is sent the server still reads the video before it answers.
  $("upload-percent").textContent = fraction >= 1 ? `${percent}: checking the video…` : percent;
}

function startUpload(event) {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) {
    showError("Choose a video file first.");
    $("file").focus();
    return;
  }
  clearMessages();
  // XMLHttpRequest, not fetch: only it reports the bytes sent (upload.onprogress).
  const xhr = new XMLHttpRequest();
  state.xhr = xhr;
  xhr.open("POST", `${API}/upload`);
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.onprogress = (e) => showUploadProgress(e.loaded, e.lengthComputable ? e.total : file.size);
  xhr.onload = () => uploadAnswered(xhr);
  xhr.onerror = () => uploadEnded(problemText(0, "", ""), "");
  xhr.onabort = () => uploadEnded("", "Upload aborted.");
  showUploadProgress(0, file.size);
  setUploading(true);
  xhr.send(uploadBody(file));
}

function uploadEnded(error, notice) {
  state.xhr = null;
  setUploading(false);
  if (error) showError(error);
  if (notice) showNotice(notice);
}

function uploadAnswered(xhr) {
  if (xhr.status !== 202) {
    $("upload-percent").textContent = "Not accepted";
    uploadEnded(problemText(xhr.status, xhr.statusText, xhr.responseText), "");
    return;
  }
  uploadEnded("", "");
  $("upload-percent").textContent = "100 %: uploaded";
  const body = JSON.parse(xhr.responseText);
  // The URL now names the session: a reload (or a shared link) resumes watching it.
  history.replaceState(null, "", `?session=${encodeURIComponent(body.session_id)}`);
  watchSession(body.session_id, true);
}

function abortUpload() {
  if (state.xhr) state.xhr.abort();
}

// ---- dropping a file ------------------------------------------------------------------

function setupDropZone() {
  // A file dropped beside the zone would make the browser open it, leaving the page (and
  // the session being watched): the window refuses drops, only the zone takes them.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  const zone = $("drop-zone");
  const over = (on) => (e) => {
    e.preventDefault(); // without it the browser opens the dropped file instead
    zone.classList.toggle("drag-over", on);
  };
  zone.addEventListener("dragenter", over(true));
  zone.addEventListener("dragover", over(true));
  zone.addEventListener("dragleave", over(false));
  zone.addEventListener("drop", (e) => {
    over(false)(e);
    if (!e.dataTransfer || e.dataTransfer.files.length === 0) return;
    const files = new DataTransfer(); // the input takes a FileList: keep only the first
    files.items.add(e.dataTransfer.files[0]);
    $("file").files = files.files;
    showFileName();
  });
  $("file").addEventListener("change", showFileName);
}

function showFileName() {
  const file = $("file").files[0];
  $("file-name").textContent = file ? `Chosen: ${file.name} (${megabytes(file.size)})` : "";
}

function megabytes(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

// ---- watching a session ---------------------------------------------------------------

function watchSession(id, focus) {
  stopWatching();
  state.sessionId = id;
  state.ended = false;
  const generation = ++state.generation;
  resetSessionView(id);
  if (focus) $("session-heading").focus();
  if ("EventSource" in window) openStream(id, generation);
  else poll(id, generation);
}

function stopWatching() {
  if (state.source) state.source.close();
  state.source = null;
  clearTimeout(state.pollTimer);
  state.pollTimer = null;
}

function openStream(id, generation) {
  const source = new EventSource(`${API}/events/${encodeURIComponent(id)}`);
  state.source = source;
  let failures = 0;
  const onStatus = (e) => {
    failures = 0;
    if (generation === state.generation) applyStatus(JSON.parse(e.data));
  };
  for (const type of ["status", "stage", "progress"]) source.addEventListener(type, onStatus);
  source.addEventListener("deleted", () => {
    if (generation === state.generation) sessionGone("", "Session deleted.");
  });
  source.onerror = () => {
    failures += 1;
    // CLOSED: the server refused the stream (404, 410…); polling reads the status URL and
    // shows the problem's detail, which EventSource cannot see.
    if (source.readyState !== EventSource.CLOSED && failures < STREAM_FAILURES_BEFORE_POLLING) return;
    source.close();
    if (generation !== state.generation || state.ended) return;
    state.source = null;
    poll(id, generation);
  };
}

async function poll(id, generation) {
  let delay = POLL_SECONDS;
  try {
    const response = await api("GET", `${API}/status/${encodeURIComponent(id)}`);
    const body = await response.json();
    if (generation !== state.generation) return;
    showError("");
    applyStatus(body);
    if (TERMINAL.has(body.status)) return;
    delay = retryAfterSeconds(response.headers.get("Retry-After")) ?? POLL_SECONDS;
  } catch (error) {
    if (generation !== state.generation) return;
    if (error.status === 404 || error.status === 410) return sessionGone(error.message, "");
    showError(error.message); // e.g. 503 with Retry-After, or the network is down
    delay = error.retryAfter ?? Math.min(MAX_POLL_SECONDS, (state.pollDelay || 1) * 2);
  }
  state.pollDelay = delay;
  state.pollTimer = setTimeout(() => poll(id, generation), delay * 1000);
}

function applyStatus(body) {
  $("session-status").textContent = body.status;
  $("session-status").dataset.status = body.status;
  $("overall-progress").value = body.progress;
  $("overall-percent").textContent = `${body.progress} %`;
  renderStages(body.stages || []);
  $("cancel-button").disabled = !CANCELLABLE.has(body.status);
  if (TERMINAL.has(body.status) && !state.ended) sessionEnded(body);
}

function sessionEnded(body) {
  state.ended = true; // SSE and a poll may both report the end: act once
  stopWatching();
  if (body.status === "completed") {
    loadResults(body.session_id, state.generation);
  } else if (body.status === "failed") {
    showError((body.error && (body.error.detail || body.error.title)) || "The analysis failed.");
  } else {
    showNotice("Cancelled.");
  }
}

// ---- the session view -----------------------------------------------------------------

function resetSessionView(id) {
  $("session").hidden = false;
  $("results").hidden = true;
  clearReel();
  $("session-id").textContent = id;
  $("session-status").textContent = "connecting…";
  $("overall-progress").value = 0;
  $("overall-percent").textContent = "0 %";
  $("stages").replaceChildren();
  $("cancel-button").disabled = true;
  $("delete-button").disabled = false;
}

function renderStages(stages) {
  const list = $("stages");
  for (const stage of stages) {
    let item = list.querySelector(`li[data-stage="${CSS.escape(stage.name)}"]`);
    if (!item) {
      item = stageItem(stage.name);
      list.append(item);
    }
    item.dataset.status = stage.status;
    item.querySelector("progress").value = stage.progress;
    item.querySelector("[data-role=status]").textContent = stage.status;
    item.querySelector("[data-role=percent]").textContent = `${stage.progress} %`;
  }
}

function stageItem(name) {
  const item = document.createElement("li");
  item.dataset.stage = name;
  const label = element("span", "stage-name", STAGE_TEXT[name] || name);
  label.id = `stage-label-${name}`;
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-labelledby", label.id);
  const status = element("span", "stage-status", "pending");
  status.dataset.role = "status";
  const percent = element("span", "stage-percent", "0 %");
  percent.dataset.role = "percent";
  item.append(label, status, bar, percent);
  return item;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- cancel and delete ----------------------------------------------------------------

async function cancelSession() {
  const id = state.sessionId;
  if (!id) return;
  clearMessages();
  $("cancel-button").disabled = true;
  try {
    const response = await api("POST", `${API}/cancel/${encodeURIComponent(id)}`);
    const body = await response.json();
    if (id !== state.sessionId) return;
    $("session-status").textContent = body.status;
    // 202 "cancelling": a stage is stopping; the stream then reports "cancelled".
    showNotice(body.status === "cancelled" ? "Cancelled." : "Cancelling…");
  } catch (error) {
    if (id === state.sessionId) showError(error.message);
  }
}

async function deleteSession() {
  const id = state.sessionId;
  if (!id) return;
  clearMessages();
  $("delete-button").disabled = true;
  try {
    await api("DELETE", `${API}/cleanup/${encodeURIComponent(id)}`);
    if (id === state.sessionId) sessionGone("", "Session deleted.");
  } catch (error) {
    if (id !== state.sessionId) return;
    showError(error.message);
    $("delete-button").disabled = false;
  }
}

// The session no longer exists (deleted here or elsewhere, expired, unknown): stop
// watching, hide it, and drop it from the URL so a reload does not ask for it again.
function sessionGone(error, notice) {
  stopWatching();
  state.generation += 1;
  state.sessionId = null;
  clearReel();
  $("session").hidden = true;
  $("results").hidden = true;
  history.replaceState(null, "", location.pathname);
  showError(error);
  showNotice(notice);
}

// ---- results --------------------------------------------------------------------------

async function loadResults(id, generation) {
  try {
    const response = await api("GET", `${API}/results/${encodeURIComponent(id)}`);
    const results = await response.json();
    if (generation === state.generation) showResults(results);
  } catch (error) {
    if (generation === state.generation) showError(error.message);
  }
}

function showResults(results) {
  const video = results.video || { duration: 0 };
  $("video-facts").textContent = `The video: ${seconds(video.duration)} s` +
    (video.width ? `, ${video.width}×${video.height}` : "") + ".";
  const highlightsWanted = results.analysis !== "workout";
  $("highlight-results").hidden = !highlightsWanted;
  if (highlightsWanted) {
    showReel(results.reel, results.highlights_reason);
    renderTimeline(results.highlights || [], video.duration);
    setMessage($("highlights-reason"), results.highlights_reason);
  }
  $("results").hidden = false; // before the plot: it is drawn at its shown width
  renderWorkout(results.workout, video.duration);
}

function showReel(reel, reason) {
  const video = $("reel");
  video.hidden = !reel;
  if (reel) {
    video.src = reel.url;
  } else {
    clearReel();
  }
  setMessage($("no-reel"), reel ? "" : `No reel was rendered${reason ? `: ${reason}` :
    " (rendering was off, or nothing was selected)."}`);
}

function clearReel() {
  const video = $("reel");
  if (!video.getAttribute("src")) return;
  video.pause();
  video.removeAttribute("src");
  video.load(); // drops the old stream and its network connection
  video.hidden = true;
}

function seconds(value) {
  return Number(value || 0).toFixed(1);
}

// ---- highlight timeline ---------------------------------------------------------------

// The reel is the highlights played one after another, so a moment of highlight i is at
// (sum of the lengths of highlights before i) + (its offset inside highlight i).
function reelPosition(highlights, index, offset) {
  let position = 0;
  for (let i = 0; i < index; i += 1) position += highlights[i].end - highlights[i].start;
  return position + offset;
}

function renderTimeline(highlights, duration) {
  state.highlights = highlights;
  state.duration = duration;
  const bar = $("timeline");
  bar.replaceChildren();
  highlights.forEach((highlight, index) => bar.append(segmentButton(highlights, index, duration)));
  const playhead = element("span", "playhead");
  playhead.id = "timeline-playhead";
  playhead.hidden = true;
  bar.append(playhead);
  $("timeline-end").textContent = `${seconds(duration)} s`;
}

function segmentButton(highlights, index, duration) {
  const { start, end } = highlights[index];
  const button = element("button", "segment");
  button.type = "button";
  button.dataset.start = String(start);
  button.dataset.end = String(end);
  button.dataset.reelStart = reelPosition(highlights, index, 0).toFixed(3);
  button.setAttribute("aria-label", `Highlight ${seconds(start)}–${seconds(end)} s`);
  button.title = `${seconds(start)}–${seconds(end)} s`;
  // Positions are set through the CSSOM, which the page's CSP allows (style attributes
  // in markup it would not).
  button.style.left = percentOf(start, duration);
  button.style.width = percentOf(end - start, duration);
  // A highlight is played from its start (offset 0), whether clicked, tapped or chosen
  // by keyboard: a tap on a phone cannot aim inside a few pixels of bar anyway.
  button.addEventListener("click", () => seekReel(reelPosition(highlights, index, 0)));
  return button;
}

function percentOf(part, whole) {
  return `${whole > 0 ? Math.min(100, Math.max(0, (part / whole) * 100)) : 0}%`;
}

function seekReel(position) {
  const video = $("reel");
  if (video.hidden || !video.getAttribute("src")) return;
  const end = Number.isFinite(video.duration) ? video.duration : Infinity;
  video.currentTime = Math.min(position, end);
  video.play().catch(() => { /* playback refused (autoplay policy): the seek stands */ });
}

// While the reel plays, the playhead shows where in the source video it is.
function followReel() {
  const video = $("reel");
  const playhead = $("timeline-playhead");
  if (!playhead) return;
  let start = 0;
  for (const [index, highlight] of state.highlights.entries()) {
    const length = highlight.end - highlight.start;
    const inside = video.currentTime < start + length || index === state.highlights.length - 1;
    if (inside) {
      const source = highlight.start + Math.min(length, video.currentTime - start);
      playhead.style.left = percentOf(source, state.duration);
      playhead.hidden = false;
      markPlaying(index);
      return;
    }
    start += length;
  }
}

function markPlaying(index) {
  $("timeline").querySelectorAll(".segment").forEach((button, i) => {
    button.classList.toggle("playing", i === index);
  });
}

// ---- workout --------------------------------------------------------------------------

function renderWorkout(workout, duration) {
  $("workout-results").hidden = !workout;
  const rows = $("sets").tBodies[0];
  rows.replaceChildren();
  $("reps-plot").replaceChildren();
  if (!workout) return;
  renderSummary(workout);
  setMessage($("workout-reason"), workout.reason);
  workout.sets.forEach((set, index) => rows.append(setRow(set, index)));
  // Without a set, the reason above says why; an empty plot and table would say nothing.
  $("reps-figure").hidden = workout.sets.length === 0;
  $("sets-wrap").hidden = workout.sets.length === 0;
  if (workout.sets.length > 0) renderRepsPlot($("reps-plot"), workout.sets, duration);
}

// The average tempo over all reps: each set's average weighted by its reps.
function averageTempo(sets) {
  const reps = sets.reduce((sum, set) => sum + set.reps, 0);
  if (reps === 0) return null;
  return sets.reduce((sum, set) => sum + set.avg_rep_seconds * set.reps, 0) / reps;
}

function renderSummary(workout) {
  const tempo = averageTempo(workout.sets);
  const facts = [
    ["Total reps", String(workout.total_reps)],
    ["Active", `${seconds(workout.active_seconds)} s`],
    ["Rest", `${seconds(workout.rest_seconds)} s`],
    ["Tempo", tempo === null ? "–" : `${tempo.toFixed(1)} s per rep (${Math.round(60 / tempo)} reps/min)`],
    ["Sets", String(workout.sets.length)],
  ];
  $("workout-summary").replaceChildren(...facts.flatMap(([term, value]) => [
    element("dt", "", term), element("dd", "", value)]));
}

function setRow(set, index) {
  const row = document.createElement("tr");
  const cells = [String(index + 1), seconds(set.start), seconds(set.end), String(set.reps),
    set.avg_rep_seconds.toFixed(2), `${Math.round(set.confidence * 100)} %`];
  cells.forEach((text, i) => {
    const cell = element(i === 0 ? "th" : "td", "", text);
    if (i === 0) cell.scope = "row";
    row.append(cell);
  });
  return row;
}

// ---- reps plot (SVG) ------------------------------------------------------------------

function svgNode(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// How long each rep took: from the previous rep (or the set's start) to this one.
function repDurations(set) {
  let previous = set.start;
  return set.rep_times.map((time) => {
    const duration = Math.max(0, time - previous);
    previous = time;
    return { time, duration };
  });
}

// The plot is drawn in the pixels it is shown at (its width when drawn), so its text keeps
// a readable size on a phone instead of being scaled down with a fixed viewBox.
function plotFrame(svg, sets, duration) {
  const width = Math.max(280, Math.round(svg.getBoundingClientRect().width) || 600);
  const frame = { width, height: 180, left: 40, right: 20, top: 12, bottom: 28 };
  const longest = Math.max(1, ...sets.flatMap((set) => repDurations(set).map((r) => r.duration)));
  frame.maxY = Math.ceil(longest);
  frame.x = (t) => frame.left + (t / Math.max(duration, 1e-9)) * (width - frame.left - frame.right);
  frame.y = (s) => frame.top + (1 - s / frame.maxY) * (frame.height - frame.top - frame.bottom);
  return frame;
}

function renderRepsPlot(svg, sets, duration) {
  const frame = plotFrame(svg, sets, duration);
  svg.setAttribute("viewBox", `0 0 ${frame.width} ${frame.height}`);
  const reps = sets.reduce((sum, set) => sum + set.rep_times.length, 0);
  svg.setAttribute("aria-label", `${reps} reps in ${sets.length} sets over ${seconds(duration)} s`);
  drawAxes(svg, frame, duration);
  sets.forEach((set, index) => drawSet(svg, frame, set, index));
  drawRests(svg, frame, sets);
}

function drawAxes(svg, frame, duration) {
  const bottom = frame.height - frame.bottom;
  svg.append(svgNode("line", { class: "axis", x1: frame.left, x2: frame.width - frame.right, y1: bottom, y2: bottom }));
  svg.append(svgNode("line", { class: "axis", x1: frame.left, x2: frame.left, y1: frame.top, y2: bottom }));
  for (const tick of timeTicks(duration)) {
    const x = frame.x(tick);
    svg.append(svgNode("line", { class: "tick", x1: x, x2: x, y1: bottom, y2: bottom + 4 }));
    svg.append(svgNode("text", { class: "tick-label", x, y: bottom + 16, "text-anchor": "middle" }, `${tick}s`));
  }
  for (const value of [0, frame.maxY]) {
    svg.append(svgNode("text", { class: "tick-label", x: frame.left - 6, y: frame.y(value) + 4, "text-anchor": "end" }, `${value}s`));
  }
}

// About five round steps (1, 2, 5 × 10^n seconds) across the video.
function timeTicks(duration) {
  if (!(duration > 0)) return [0];
  const raw = duration / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let t = 0; t <= duration + 1e-9; t += step) ticks.push(Number(t.toFixed(6)));
  return ticks;
}

function drawSet(svg, frame, set, index) {
  const x = frame.x(set.start);
  const band = svgNode("rect", {
    class: "set-band", x, y: frame.top, width: Math.max(2, frame.x(set.end) - x),
    height: frame.height - frame.top - frame.bottom,
  });
  band.append(svgNode("title", {}, `Set ${index + 1}: ${set.reps} reps, ${seconds(set.start)}–${seconds(set.end)} s`));
  svg.append(band);
  const points = repDurations(set);
  if (points.length > 1) {
    const path = points.map((p) => `${frame.x(p.time).toFixed(1)},${frame.y(p.duration).toFixed(1)}`).join(" ");
    svg.append(svgNode("polyline", { class: "rep-line", points: path }));
  }
  points.forEach((point, rep) => {
    const mark = svgNode("circle", { class: "rep-mark", cx: frame.x(point.time), cy: frame.y(point.duration), r: 4 });
    mark.append(svgNode("title", {}, `Set ${index + 1}, rep ${rep + 1} at ${seconds(point.time)} s (${point.duration.toFixed(1)} s)`));
    svg.append(mark);
  });
}

// Rests are the gaps between sets: nothing is drawn there but a label when it fits.
function drawRests(svg, frame, sets) {
  for (let i = 1; i < sets.length; i += 1) {
    const from = frame.x(sets[i - 1].end);
    const to = frame.x(sets[i].start);
    if (to - from < 48) continue;
    const label = `rest ${Math.round(sets[i].start - sets[i - 1].end)}s`;
    svg.append(svgNode("text", { class: "rest-label", x: (from + to) / 2, y: frame.top + 14, "text-anchor": "middle" }, label));
  }
}

// ---- start ----------------------------------------------------------------------------

function resumeFromUrl() {
  const id = new URLSearchParams(location.search).get("session");
  if (id === null) return;
  if (!SESSION_ID.test(id)) {
    showError("The link names no valid session id.");
    return;
  }
  watchSession(id, false);
}

function start() {
  $("upload-form").addEventListener("submit", startUpload);
  $("abort-upload").addEventListener("click", abortUpload);
  $("cancel-button").addEventListener("click", cancelSession);
  $("delete-button").addEventListener("click", deleteSession);
  $("reel").addEventListener("timeupdate", followReel);
  setupDropZone();
  resumeFromUrl();
}

start();
