// The upload page: plain DOM, no framework, no build step. Everything goes through the API;
// file bytes go straight to S3 with the presigned POST the API hands out.
"use strict";

const $ = (selector) => document.querySelector(selector);
const POLL_MS = 1000;
const POLL_LIMIT = 120;

const tokens = {
  get access() { return sessionStorage.getItem("access"); },
  get refresh() { return sessionStorage.getItem("refresh"); },
  get email() { return sessionStorage.getItem("email"); },
  save(pair, email) {
    sessionStorage.setItem("access", pair.access_token);
    sessionStorage.setItem("refresh", pair.refresh_token);
    if (email) sessionStorage.setItem("email", email);
  },
  clear() { sessionStorage.clear(); },
};

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// A problem+json body as one readable sentence.
async function problemOf(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  if (!body) return new ApiError(`the server answered ${response.status}`, response.status);
  let message = body.detail || body.title || `the server answered ${response.status}`;
  if (Array.isArray(body.errors) && body.errors.length) {
    const fields = body.errors.map((e) => `${e.loc.slice(1).join(".") || "input"}: ${e.msg}`);
    message += ` (${fields.join("; ")})`;
  }
  return new ApiError(message, response.status);
}

async function refreshTokens() {
  if (!tokens.refresh) return false;
  const response = await fetch("/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: tokens.refresh }),
  });
  if (!response.ok) return false;
  tokens.save(await response.json());
  return true;
}

async function api(method, path, { json, form, retry = true } = {}) {
  const headers = {};
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = new URLSearchParams(form);
  }
  if (tokens.access) headers.Authorization = `Bearer ${tokens.access}`;
  const response = await fetch(path, { method, headers, body });
  if (response.status === 401 && retry && (await refreshTokens())) {
    return api(method, path, { json, form, retry: false });
  }
  if (response.status === 401 && tokens.access) {
    signedOut("Your session ended; please sign in again.");
  }
  if (!response.ok) throw await problemOf(response);
  return response.status === 204 ? null : response.json();
}

// ---- messages -------------------------------------------------------------------------

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

function reportErrors(action) {
  return async (...args) => {
    showError("");
    try {
      await action(...args);
    } catch (error) {
      showError(error.message || String(error));
    }
  };
}

// ---- signing in -----------------------------------------------------------------------

function credentials() {
  const email = $("#email").value.trim();
  const password = $("#password").value;
  if (!email || !password) throw new Error("Enter your email and a password.");
  return { email, password };
}

async function signIn({ email, password }) {
  tokens.save(await api("POST", "/v1/auth/token", { form: { username: email, password } }), email);
  $("#password").value = "";
  await signedIn();
}

async function signedIn() {
  $("#auth").hidden = true;
  $("#workspace").hidden = false;
  $("#who").hidden = false;
  $("#who-email").textContent = tokens.email || "";
  await refreshList();
}

function signedOut(message) {
  tokens.clear();
  $("#auth").hidden = false;
  $("#workspace").hidden = true;
  $("#who").hidden = true;
  $("#uploads").replaceChildren();
  showError(message || "");
}

// ---- uploads --------------------------------------------------------------------------

// What we declare; by extension first, as browsers disagree (Windows calls a ZIP
// application/x-zip-compressed). The server checks the bytes either way.
const TYPES = {
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", pdf: "application/pdf",
  csv: "text/csv", txt: "text/plain", zip: "application/zip",
};

function typeOf(file) {
  const extension = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  return TYPES[extension] || file.type || "application/octet-stream";
}

function humanSize(bytes) {
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

function uploadRow(file) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = file.name;
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  const percent = document.createElement("span");
  percent.className = "percent";
  percent.textContent = "0 %";
  const state = document.createElement("span");
  state.className = "state";
  state.textContent = "starting…";
  item.append(name, bar, percent, state);
  item.dataset.name = file.name;
  $("#uploads").prepend(item);
  return {
    item,
    progress(fraction) {
      const value = Math.round(fraction * 100);
      bar.value = value;
      percent.textContent = `${value} %`;
    },
    status(text, kind) {
      state.textContent = text;
      state.className = `state ${kind || ""}`;
      item.dataset.status = kind || "";
    },
  };
}

function s3Message(xhr) {
  const match = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText || "");
  return match ? match[1] : `storage answered ${xhr.status}`;
}

function postToStorage(upload, file, row) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append("file", file); // S3 ignores every field after the file
    const xhr = new XMLHttpRequest();
    xhr.open("POST", upload.url);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) row.progress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        row.progress(1);
        resolve();
      } else {
        reject(new Error(`upload refused: ${s3Message(xhr)}`));
      }
    });
    xhr.addEventListener("error", () => reject(new Error("the upload could not reach storage")));
    xhr.send(form);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function settle(fileId) {
  let record = await api("POST", `/v1/files/${fileId}/complete`);
  for (let i = 0; record.status === "pending" && i < POLL_LIMIT; i += 1) {
    await sleep(POLL_MS);
    record = await api("GET", `/v1/files/${fileId}`);
  }
  return record;
}

async function uploadOne(file) {
  const row = uploadRow(file);
  try {
    if (file.size === 0) throw new Error("empty files cannot be uploaded");
    const created = await api("POST", "/v1/files", {
      json: { filename: file.name, content_type: typeOf(file), size: file.size },
    });
    row.item.dataset.fileId = created.file_id;
    row.status("uploading…", "uploading");
    await postToStorage(created.upload, file, row);
    row.status("checking…", "pending");
    const record = await settle(created.file_id);
    if (record.status === "ready") row.status("ready", "ready");
    else if (record.status === "rejected") row.status(`rejected: ${record.rejected_reason}`, "rejected");
    else row.status("still being checked; see the list below", "pending");
  } catch (error) {
    row.status(`failed: ${error.message}`, "failed");
  }
}

async function uploadAll(files) {
  await Promise.all([...files].map(uploadOne));
  await refreshList();
}

// ---- the list -------------------------------------------------------------------------

function button(label, className, action) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  if (className) element.className = className;
  element.addEventListener("click", reportErrors(action));
  return element;
}

// Cross-origin links ignore the download attribute; S3 sends Content-Disposition instead.
function follow(url) {
  const link = document.createElement("a");
  link.href = url;
  link.rel = "noopener";
  document.body.append(link);
  link.click();
  link.remove();
}

function fileRow(file) {
  const row = document.createElement("tr");
  row.dataset.fileId = file.file_id;
  const name = document.createElement("td");
  name.className = "name";
  name.textContent = file.filename;
  const size = document.createElement("td");
  size.textContent = humanSize(file.size);
  const status = document.createElement("td");
  status.className = `status-${file.status}`;
  status.textContent = file.status;
  if (file.rejected_reason) {
    const reason = document.createElement("span");
    reason.className = "reason";
    reason.textContent = file.rejected_reason;
    status.append(reason);
  }
  const created = document.createElement("td");
  created.textContent = new Date(file.created_at).toLocaleString();
  const cell = document.createElement("td");
  const actions = document.createElement("div");
  actions.className = "actions";
  cell.append(actions);
  if (file.status === "ready") {
    actions.append(button("Download", "secondary", async () => {
      follow((await api("GET", `/v1/files/${file.file_id}/download`)).url);
    }));
  }
  actions.append(button("Delete", "danger", async () => {
    await api("DELETE", `/v1/files/${file.file_id}`);
    await refreshList();
  }));
  row.append(name, size, status, created, cell);
  return row;
}

async function refreshList() {
  const page = await api("GET", "/v1/files?limit=100");
  $("#files tbody").replaceChildren(...page.items.map(fileRow));
  $("#empty").hidden = page.items.length > 0;
}

// ---- export ---------------------------------------------------------------------------

async function runExport() {
  const status = $("#export-status");
  const trigger = $("#export");
  trigger.disabled = true;
  status.replaceChildren("Preparing the export…");
  try {
    let job = await api("POST", "/v1/jobs", { json: { kind: "export", input: {} } });
    for (let i = 0; ["queued", "running"].includes(job.status) && i < POLL_LIMIT; i += 1) {
      await sleep(POLL_MS);
      job = await api("GET", `/v1/jobs/${job.job_id}`);
    }
    if (job.status !== "succeeded") {
      throw new Error(`the export ${job.status === "queued" || job.status === "running" ? "is taking too long" : "failed"}${job.error ? `: ${job.error}` : ""}`);
    }
    const link = document.createElement("a");
    link.id = "export-link";
    link.href = job.result.url;
    link.rel = "noopener";
    const count = job.result.rows;
    link.textContent = `Download export (${count} ${count === 1 ? "file" : "files"})`;
    status.replaceChildren(link, ` — link valid until ${new Date(job.result.expires_at).toLocaleTimeString()}`);
  } catch (error) {
    status.replaceChildren("");
    throw error;
  } finally {
    trigger.disabled = false;
  }
}

// ---- wiring ---------------------------------------------------------------------------

function wire() {
  $("#auth-form").addEventListener("submit", reportErrors(async (event) => {
    event.preventDefault();
    await signIn(credentials());
  }));
  $("#register").addEventListener("click", reportErrors(async () => {
    const { email, password } = credentials();
    await api("POST", "/v1/auth/register", { json: { email, password } });
    await signIn({ email, password });
  }));
  $("#sign-out").addEventListener("click", reportErrors(async () => {
    const refresh = tokens.refresh;
    signedOut("");
    if (refresh) await api("POST", "/v1/auth/logout", { json: { refresh_token: refresh } });
  }));
  $("#export").addEventListener("click", reportErrors(runExport));

  const input = $("#file-input");
  input.addEventListener("change", reportErrors(async () => {
    const files = [...input.files];
    input.value = "";
    await uploadAll(files);
  }));
  const drop = $("#drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", reportErrors(async (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    await uploadAll(event.dataTransfer.files);
  }));
}

wire();
if (tokens.access) reportErrors(signedIn)();
