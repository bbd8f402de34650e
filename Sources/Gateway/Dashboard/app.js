// The Rymi dashboard: plain JavaScript over the public API, nothing else. Every value the API
// returns is put on the page as text (textContent, never HTML), and the page runs under
// Content-Security-Policy default-src 'self', so nothing a tenant uploads can run here.
"use strict";

(() => {
  const KEY_STORAGE = "rymi.apiKey";
  const CAMPAIGN_STATUSES = ["draft", "scheduled", "running", "paused", "completed", "canceled"];
  const CONTACT_STATUSES = ["pending", "dialed", "completed", "failed", "skipped_dnc", "canceled", "expired"];
  const FINAL_CAMPAIGN_STATUSES = ["completed", "canceled"];
  const CONTACTS_PAGE = 25;
  const POLL_FAST_MS = 2000;
  const POLL_IDLE_MS = 15000;
  const POLL_MAX_MS = 60000;

  const main = document.getElementById("main");
  const nav = document.getElementById("nav");
  const banner = document.getElementById("banner");

  // MARK: Building the page (text only)

  /** An element with attributes and children; strings become text nodes, never markup. */
  function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
      else if (name === "class") element.className = value;
      else element.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : String(child));
    }
    return element;
  }

  function show(...children) {
    main.replaceChildren(...present(children));
  }

  /** Children without the absent ones (replaceChildren would write "null"). */
  function present(children) {
    return children.flat().filter((child) => child !== null && child !== undefined && child !== false);
  }

  function badge(status) {
    return h("span", { class: "badge " + (CAMPAIGN_STATUSES.includes(status) || CONTACT_STATUSES.includes(status) ? status : "") },
      String(status).replace("_", " "));
  }

  function time(value) {
    if (!value) return "—";
    const date = new Date(value);
    return isNaN(date) ? String(value) : date.toLocaleString();
  }

  function percent(rate) {
    return rate === null || rate === undefined ? "—" : (rate * 100).toFixed(1) + "%";
  }

  function errorBox(error) {
    const details = Array.isArray(error.details) ? error.details : [];
    return h("div", { class: "error", role: "alert" },
      h("strong", {}, error.message || String(error)),
      error.code ? h("span", { class: "hint" }, " (" + error.code + ")") : null,
      details.length ? h("ul", {}, details.slice(0, 50).map((detail) => h("li", {},
        (detail.row ? "row " + detail.row + ": " : "") + (detail.field ? detail.field + ": " : "") + (detail.reason || "")))) : null);
  }

  function setBanner(text) {
    banner.textContent = text || "";
    banner.hidden = !text;
  }

  // MARK: The API

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details;
    }
  }

  function apiKey() {
    return sessionStorage.getItem(KEY_STORAGE);
  }

  /** A random UUID (v4), also where crypto.randomUUID is missing (plain http beyond localhost). */
  function newIdempotencyKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function errorFrom(status, text, fallback) {
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
    const error = (body && body.error) || {};
    return new ApiError(status, error.code || "http_" + status, error.message || fallback || "HTTP " + status, error.details);
  }

  async function api(method, path, options = {}) {
    const headers = { Authorization: "Bearer " + apiKey() };
    let body;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
    let response;
    try {
      response = await fetch(path, { method, headers, body, cache: "no-store", credentials: "omit" });
    } catch (_) {
      throw new ApiError(0, "network_error", "The service could not be reached.");
    }
    const text = await response.text();
    // A key refused mid-session (revoked) ends it; the sign-in form's own check says so itself.
    if (response.status === 401 && !options.signingIn) {
      signOut("That API key is not valid any more; sign in again.");
      throw errorFrom(401, text);
    }
    if (!response.ok) throw errorFrom(response.status, text, response.statusText);
    return text ? JSON.parse(text) : null;
  }

  /**
   * A POST that changes something: sent with an Idempotency-Key, and sent again with the same
   * key when the network or the service failed, so it takes effect once however often it is sent.
   */
  async function change(path, json) {
    const idempotencyKey = newIdempotencyKey();
    let delay = 500;
    for (let attempt = 1; ; attempt++) {
      try {
        return await api("POST", path, { json, idempotencyKey });
      } catch (error) {
        const retryable = error.status === 0 || error.status === 503 || error.code === "idempotency_key_in_use";
        if (!retryable || attempt >= 4) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay *= 2;
      }
    }
  }

  /**
   * The first `pages` pages of a list (`path` has its query), read again from the start: what
   * they hold moves while campaigns run. Returns the items under `field`, and the next cursor.
   */
  async function readPages(path, field, pages) {
    const items = [];
    let next = null;
    for (let page = 0; page < pages; page++) {
      const answer = await api("GET", path + (next ? "&cursor=" + encodeURIComponent(next) : ""));
      items.push(...answer[field]);
      next = answer.next_cursor;
      if (!next) break;
    }
    return { items, next };
  }

  /** A CSV file to a campaign, with progress (fetch cannot report an upload's progress). */
  function uploadCSV(campaignID, file, onProgress) {
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open("POST", "/v1/campaigns/" + encodeURIComponent(campaignID) + "/contacts");
      request.setRequestHeader("Authorization", "Bearer " + apiKey());
      request.setRequestHeader("Content-Type", "text/csv");
      request.setRequestHeader("Idempotency-Key", newIdempotencyKey());
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      request.addEventListener("load", () => {
        if (request.status >= 200 && request.status < 300) {
          resolve(JSON.parse(request.responseText || "null"));
        } else {
          reject(errorFrom(request.status, request.responseText));
        }
      });
      request.addEventListener("error", () => reject(new ApiError(0, "network_error", "The upload was cut off; send it again.")));
      request.send(file);
    });
  }

  // MARK: Refreshing: polling with backoff

  let poller = null;

  /**
   * Calls `refresh` now and again after the delay it returns (null: stop). A failure doubles the
   * delay, up to a minute, and says so; a hidden tab is not refreshed until it is seen again.
   */
  function poll(refresh) {
    stopPolling();
    const state = { timer: null, stopped: false, failures: 0 };
    poller = state;
    const tick = async () => {
      state.timer = null;
      if (state.stopped) return;
      if (document.hidden) {
        state.timer = setTimeout(tick, POLL_IDLE_MS);
        return;
      }
      let next;
      try {
        next = await refresh();
        state.failures = 0;
        setBanner("");
      } catch (error) {
        if (state.stopped) return;
        state.failures += 1;
        next = Math.min(POLL_FAST_MS * 2 ** state.failures, POLL_MAX_MS);
        setBanner(`Could not refresh (${error.message}); trying again in ${Math.round(next / 1000)} s.`);
      }
      if (!state.stopped && next) state.timer = setTimeout(tick, next);
    };
    state.wake = () => {
      if (state.stopped) return;
      if (state.timer) clearTimeout(state.timer);
      tick();
    };
    tick();
    return state;
  }

  function stopPolling() {
    if (!poller) return;
    poller.stopped = true;
    if (poller.timer) clearTimeout(poller.timer);
    poller = null;
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && poller) poller.wake();
  });

  // MARK: Signing in

  function signOut(message) {
    sessionStorage.removeItem(KEY_STORAGE);
    stopPolling();
    renderSignIn(message);
  }

  function renderSignIn(message) {
    nav.hidden = true;
    setBanner("");
    const key = h("input", { id: "sign-in-key", type: "password", autocomplete: "off", required: true, placeholder: "your API key" });
    const problem = h("div", { id: "sign-in-error" }, message ? errorBox({ message }) : null);
    const form = h("form", { class: "card", id: "sign-in" },
      h("h1", {}, "Sign in"),
      h("label", { for: "sign-in-key" }, "API key ", h("span", { class: "hint" }, "(kept in this tab only, until it closes)")),
      key, problem,
      h("div", { class: "actions" }, h("button", { type: "submit", id: "sign-in-submit" }, "Sign in")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY_STORAGE, key.value.trim());
      try {
        await api("GET", "/v1/campaigns?limit=1", { signingIn: true });
        if (location.hash === "" || location.hash === "#/sign-in") location.hash = "#/campaigns";
        else route();
      } catch (error) {
        sessionStorage.removeItem(KEY_STORAGE);
        problem.replaceChildren(errorBox(error.status === 401 ? { message: "That API key was not accepted." } : error));
      }
    });
    show(form);
    key.focus();
  }

  // MARK: Campaigns

  function renderCampaigns() {
    const rows = h("tbody", { id: "campaign-rows" });
    const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
    const problem = h("div");
    show(h("h1", {}, "Campaigns"),
      h("div", { class: "actions" }, h("a", { class: "button", href: "#/new", id: "new-campaign-link" }, "New campaign")),
      problem,
      h("div", { class: "table-wrap" }, h("table", { id: "campaigns" },
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Status"), h("th", {}, "Progress"),
          h("th", { class: "hide-narrow" }, "Created"))),
        rows)),
      h("div", { class: "pager" }, more));
    let pages = 1;
    const row = (campaign) => {
      const counts = campaign.contact_counts || {};
      const finished = (counts.total || 0) - (counts.pending || 0) - (counts.dialed || 0);
      return h("tr", { "data-id": campaign.id },
        h("td", {}, h("a", { href: "#/campaigns/" + encodeURIComponent(campaign.id) }, campaign.name)),
        h("td", {}, badge(campaign.status)),
        h("td", {}, `${finished} / ${counts.total || 0}`),
        h("td", { class: "hide-narrow" }, time(campaign.created_at)));
    };
    const refresh = async () => {
      const { items: shown, next } = await readPages("/v1/campaigns?limit=50", "campaigns", pages);
      rows.replaceChildren(...(shown.length ? shown.map(row) : [h("tr", {}, h("td", { colspan: 4 }, "No campaigns yet."))]));
      more.hidden = !next;
      problem.replaceChildren();
      return shown.some((campaign) => ["running", "scheduled"].includes(campaign.status)) ? POLL_FAST_MS * 2 : POLL_IDLE_MS;
    };
    more.addEventListener("click", () => {
      pages += 1;
      if (poller) poller.wake();
    });
    poll(refresh);
  }

  function renderNew() {
    const fields = {
      name: h("input", { id: "new-name", required: true, maxlength: 200 }),
      agent_id: h("input", { id: "new-agent-id", required: true, maxlength: 128, placeholder: "agent_42" }),
      call_from_number: h("input", { id: "new-call-from", type: "tel", placeholder: "+14155550100" }),
      default_country: h("input", { id: "new-country", maxlength: 2, placeholder: "US" }),
      timezone: h("input", { id: "new-timezone", placeholder: "America/New_York" }),
    };
    const fieldErrors = {};
    const labelled = (name, text, hint) => {
      fieldErrors[name] = h("div", { class: "field-error" });
      return [h("label", { for: fields[name].id }, text, hint ? h("span", { class: "hint" }, " " + hint) : null), fields[name], fieldErrors[name]];
    };
    const problem = h("div");
    const submit = h("button", { type: "submit", id: "new-submit" }, "Create campaign");
    const form = h("form", { class: "card", id: "new-campaign" },
      h("h1", {}, "New campaign"),
      labelled("name", "Name"),
      labelled("agent_id", "Agent ID", "(the voice agent that takes the calls)"),
      labelled("call_from_number", "Call from", "(one of the account's numbers; needed to start)"),
      labelled("default_country", "Default country", "(ISO code, for national numbers)"),
      labelled("timezone", "Time zone", "(IANA, for the calling window; else each number's own)"),
      problem,
      h("div", { class: "actions" }, submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      for (const [name, input] of Object.entries(fields)) {
        const value = input.value.trim();
        if (value) body[name] = value;
      }
      Object.values(fieldErrors).forEach((box) => box.replaceChildren());
      problem.replaceChildren();
      submit.disabled = true;
      try {
        const created = await change("/v1/campaigns", body);
        location.hash = "#/campaigns/" + encodeURIComponent(created.campaign_id);
      } catch (error) {
        let placed = false;
        for (const detail of error.details || []) {
          if (fieldErrors[detail.field]) {
            fieldErrors[detail.field].append(h("div", {}, detail.reason));
            placed = true;
          }
        }
        problem.replaceChildren(errorBox(placed ? { message: error.message, code: error.code } : error));
      } finally {
        submit.disabled = false;
      }
    });
    show(form);
    fields.name.focus();
  }

  function progressBar(counts) {
    const total = counts.total || 0;
    const bar = h("div", { class: "progress", id: "progress", role: "img" });
    const legend = h("ul", { class: "legend", id: "progress-legend" });
    const described = [];
    for (const status of CONTACT_STATUSES) {
      const count = counts[status] || 0;
      const share = total ? (count / total) * 100 : 0;
      const segment = h("span", { "data-status": status, title: `${status}: ${count}` });
      segment.style.width = share + "%";
      segment.style.background = `var(--${status})`;
      bar.append(segment);
      const item = h("li", { "data-status": status }, `${status.replace("_", " ")} ${count}`);
      item.style.setProperty("--swatch", `var(--${status})`);
      legend.append(item);
      if (count) described.push(`${count} ${status}`);
    }
    bar.setAttribute("aria-label", described.length ? described.join(", ") : "no contacts");
    return [bar, legend];
  }

  function renderCampaign(id) {
    const path = "/v1/campaigns/" + encodeURIComponent(id);
    const title = h("h1", { id: "campaign-name" }, "Campaign");
    const status = h("span", { id: "campaign-status" });
    const meta = h("p", { class: "meta" });
    const actionProblem = h("div");
    const buttons = {
      start: h("button", { type: "button", id: "action-start" }, "Start"),
      pause: h("button", { type: "button", id: "action-pause", class: "secondary" }, "Pause"),
      resume: h("button", { type: "button", id: "action-resume" }, "Resume"),
      cancel: h("button", { type: "button", id: "action-cancel", class: "danger" }, "Cancel"),
    };
    const progress = h("div");
    const figures = h("div", { class: "figures", id: "figures" });
    const reasons = h("tbody", { id: "failure-reasons" });

    const fileInput = h("input", { type: "file", id: "csv-file", accept: ".csv,text/csv" });
    const uploadButton = h("button", { type: "button", id: "csv-upload" }, "Upload");
    const uploadProgress = h("progress", { id: "csv-progress", max: 1, value: 0, hidden: true });
    const uploadResult = h("div", { id: "csv-result" });

    const filter = h("select", { id: "contact-filter" }, h("option", { value: "" }, "all statuses"),
      CONTACT_STATUSES.map((value) => h("option", { value }, value.replace("_", " "))));
    const contactRows = h("tbody", { id: "contact-rows" });
    const previous = h("button", { type: "button", class: "secondary", id: "contacts-previous" }, "Previous");
    const next = h("button", { type: "button", class: "secondary", id: "contacts-next" }, "Next");
    const pageLabel = h("span", { class: "meta", id: "contacts-page" });

    show(h("p", {}, h("a", { href: "#/campaigns" }, "← Campaigns")),
      title, h("p", {}, status), meta,
      h("div", { class: "actions" }, Object.values(buttons)), actionProblem,
      h("section", {}, h("h2", {}, "Progress"), progress, figures),
      h("section", {}, h("h2", {}, "Failures by reason"),
        h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Reason"), h("th", {}, "Contacts"))), reasons))),
      h("section", {}, h("h2", {}, "Upload contacts (CSV)"),
        h("p", { class: "hint" }, "A header row naming phone_number (or phone, number), optionally timezone; other columns become variables. All rows go in, or none."),
        h("label", { for: "csv-file" }, "File"), fileInput,
        h("div", { class: "actions" }, uploadButton), uploadProgress, uploadResult),
      h("section", {}, h("h2", {}, "Contacts"),
        h("label", { for: "contact-filter" }, "Status"), filter,
        h("div", { class: "table-wrap" }, h("table", { id: "contacts" },
          h("thead", {}, h("tr", {}, h("th", {}, "Number"), h("th", {}, "Status"), h("th", {}, "Variables"),
            h("th", {}, "Attempts"), h("th", { class: "hide-narrow" }, "Failure"), h("th", { class: "hide-narrow" }, "Updated"))),
          contactRows)),
        h("div", { class: "pager" }, previous, pageLabel, next)));

    // Contacts are paged by cursor: the cursors of the pages before are kept to go back.
    let cursors = [null];
    let nextCursor = null;
    let campaignStatus = null;

    const contactRow = (contact) => h("tr", { "data-id": contact.id },
      h("td", {}, "+" + contact.phone_number),
      h("td", {}, badge(contact.status)),
      h("td", { class: "vars" }, JSON.stringify(contact.variables || {})),
      h("td", {}, contact.attempt ?? 0),
      h("td", { class: "hide-narrow" }, contact.failure_reason || ""),
      h("td", { class: "hide-narrow" }, time(contact.updated_at)));

    const loadContacts = async () => {
      const cursor = cursors[cursors.length - 1];
      let query = "?limit=" + CONTACTS_PAGE;
      if (filter.value) query += "&status=" + encodeURIComponent(filter.value);
      if (cursor) query += "&cursor=" + encodeURIComponent(cursor);
      const page = await api("GET", path + "/contacts" + query);
      contactRows.replaceChildren(...(page.contacts.length ? page.contacts.map(contactRow)
        : [h("tr", {}, h("td", { colspan: 6 }, "No contacts" + (filter.value ? " with this status." : " yet.")))]));
      nextCursor = page.next_cursor;
      previous.disabled = cursors.length === 1;
      next.disabled = !nextCursor;
      pageLabel.textContent = "page " + cursors.length;
    };

    const refresh = async () => {
      const [campaign, stats] = await Promise.all([api("GET", path), api("GET", path + "/stats")]);
      campaignStatus = campaign.status;
      document.title = campaign.name + " · Rymi Campaigns";
      title.textContent = campaign.name;
      status.replaceChildren(...present([badge(campaign.status), campaign.paused_reason ? h("span", { class: "meta" }, " " + campaign.paused_reason) : null]));
      meta.textContent = [campaign.id, "agent " + campaign.agent_id, campaign.call_from_number ? "from " + campaign.call_from_number : "no caller ID yet",
        campaign.timezone || null].filter(Boolean).join(" · ");
      buttons.start.disabled = campaign.status !== "draft";
      buttons.pause.disabled = campaign.status !== "running";
      buttons.resume.disabled = campaign.status !== "paused";
      buttons.cancel.disabled = !["scheduled", "running", "paused"].includes(campaign.status);
      uploadButton.disabled = FINAL_CAMPAIGN_STATUSES.includes(campaign.status);
      progress.replaceChildren(...progressBar(campaign.contact_counts || {}));
      const counts = campaign.contact_counts || {};
      figures.replaceChildren(
        h("div", { class: "figure" }, h("b", { id: "figure-total" }, counts.total || 0), "contacts"),
        h("div", { class: "figure" }, h("b", { id: "figure-attempts" }, stats.attempts), "calls placed"),
        h("div", { class: "figure" }, h("b", { id: "figure-answer-rate" }, percent(stats.answer_rate)), "answer rate"),
        h("div", { class: "figure" }, h("b", {}, percent(stats.voicemail_rate)), "voicemail"),
        h("div", { class: "figure" }, h("b", {}, Math.round((stats.talk_time && stats.talk_time.total_seconds) || 0) + " s"), "talk time"));
      const failures = Object.entries(stats.failure_reasons || {}).sort((a, b) => b[1] - a[1]);
      reasons.replaceChildren(...(failures.length ? failures.map(([reason, count]) => h("tr", {}, h("td", {}, reason), h("td", {}, count)))
        : [h("tr", {}, h("td", { colspan: 2 }, "No failures."))]));
      await loadContacts();
      if (FINAL_CAMPAIGN_STATUSES.includes(campaign.status)) return POLL_IDLE_MS * 2;
      return ["running", "scheduled"].includes(campaign.status) ? POLL_FAST_MS : POLL_IDLE_MS;
    };

    for (const [action, button] of Object.entries(buttons)) {
      button.addEventListener("click", async () => {
        if (action === "cancel" && !confirm("Cancel this campaign? Contacts not called yet will not be called.")) return;
        actionProblem.replaceChildren();
        button.disabled = true;
        try {
          await change(path + "/" + action);
        } catch (error) {
          actionProblem.replaceChildren(errorBox(error));
        }
        if (poller) poller.wake();
      });
    }

    uploadButton.addEventListener("click", async () => {
      const file = fileInput.files && fileInput.files[0];
      uploadResult.replaceChildren();
      if (!file) {
        uploadResult.replaceChildren(errorBox({ message: "Choose a CSV file first." }));
        return;
      }
      uploadButton.disabled = true;
      uploadProgress.hidden = false;
      uploadProgress.value = 0;
      try {
        const result = await uploadCSV(id, file, (share) => { uploadProgress.value = share; });
        uploadProgress.value = 1;
        uploadResult.replaceChildren(h("p", { class: "success" },
          `${result.inserted_count} contacts added, ${result.skipped_duplicates} duplicates skipped.`));
        fileInput.value = "";
      } catch (error) {
        uploadProgress.hidden = true;
        uploadResult.replaceChildren(errorBox(error));
      } finally {
        uploadButton.disabled = FINAL_CAMPAIGN_STATUSES.includes(campaignStatus);
        if (poller) poller.wake();
      }
    });

    filter.addEventListener("change", () => {
      cursors = [null];
      loadContacts().catch((error) => setBanner(error.message));
    });
    next.addEventListener("click", () => {
      if (!nextCursor) return;
      cursors.push(nextCursor);
      loadContacts().catch((error) => setBanner(error.message));
    });
    previous.addEventListener("click", () => {
      if (cursors.length > 1) cursors.pop();
      loadContacts().catch((error) => setBanner(error.message));
    });

    poll(async () => {
      try {
        return await refresh();
      } catch (error) {
        if (error.status === 404) {
          show(h("h1", {}, "Campaign not found"), h("p", {}, h("a", { href: "#/campaigns" }, "← Campaigns")));
          return null;
        }
        throw error;
      }
    });
  }

  // MARK: Do-Not-Call

  function renderDNC() {
    const numbers = h("textarea", { id: "dnc-numbers", placeholder: "+14155550123\n+14155550124" });
    const country = h("input", { id: "dnc-country", maxlength: 2, placeholder: "US" });
    const problem = h("div");
    const added = h("div", { id: "dnc-result" });
    const rows = h("tbody", { id: "dnc-rows" });
    const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
    const form = h("form", { class: "card", id: "dnc-add" },
      h("h2", {}, "Add numbers"),
      h("label", { for: "dnc-numbers" }, "Numbers ", h("span", { class: "hint" }, "(one per line, or separated by commas)")), numbers,
      h("label", { for: "dnc-country" }, "Country ", h("span", { class: "hint" }, "(ISO code, for numbers written without +)")), country,
      problem, added,
      h("div", { class: "actions" }, h("button", { type: "submit", id: "dnc-submit" }, "Add to the list")));
    show(h("h1", {}, "Do-Not-Call list"),
      h("p", { class: "hint" }, "No campaign of this account ever calls a number on this list."),
      form,
      h("section", {}, h("h2", {}, "Listed numbers"),
        h("div", { class: "table-wrap" }, h("table", { id: "dnc" },
          h("thead", {}, h("tr", {}, h("th", {}, "Number"), h("th", {}, "Listed"), h("th", { class: "hide-narrow" }, "Source"), h("th", {}, ""))),
          rows)),
        h("div", { class: "pager" }, more)));

    let pages = 1;
    const remove = async (number, button) => {
      button.disabled = true;
      try {
        await api("DELETE", "/v1/dnc/" + encodeURIComponent(number));
      } catch (error) {
        problem.replaceChildren(errorBox(error));
      }
      if (poller) poller.wake();
    };
    const row = (entry) => {
      const button = h("button", { type: "button", class: "secondary", "data-number": entry.phone_number }, "Remove");
      button.addEventListener("click", () => remove(entry.phone_number, button));
      return h("tr", { "data-number": entry.phone_number },
        h("td", {}, "+" + entry.phone_number), h("td", {}, time(entry.created_at)),
        h("td", { class: "hide-narrow" }, entry.source === "opt_out" ? "opted out on a call" : "added"), h("td", {}, button));
    };
    const refresh = async () => {
      const { items: shown, next } = await readPages("/v1/dnc?limit=100", "entries", pages);
      rows.replaceChildren(...(shown.length ? shown.map(row) : [h("tr", {}, h("td", { colspan: 4 }, "The list is empty."))]));
      more.hidden = !next;
      return POLL_IDLE_MS;
    };
    more.addEventListener("click", () => {
      pages += 1;
      if (poller) poller.wake();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      problem.replaceChildren();
      added.replaceChildren();
      const list = numbers.value.split(/[\s,;]+/).map((number) => number.trim()).filter(Boolean);
      if (!list.length) {
        problem.replaceChildren(errorBox({ message: "Enter at least one number." }));
        return;
      }
      const body = { phone_numbers: list };
      if (country.value.trim()) body.default_country = country.value.trim();
      try {
        const result = await change("/v1/dnc", body);
        added.replaceChildren(h("p", { class: "success" }, `${result.added_count} added, ${result.already_listed_count} already listed.`));
        numbers.value = "";
      } catch (error) {
        problem.replaceChildren(errorBox(error));
      }
      if (poller) poller.wake();
    });
    poll(refresh);
  }

  // MARK: Routing

  function route() {
    stopPolling();
    setBanner("");
    if (!apiKey()) {
      renderSignIn();
      return;
    }
    nav.hidden = false;
    const hash = location.hash || "#/campaigns";
    const section = hash.split("/")[1] || "campaigns";
    for (const link of nav.querySelectorAll("a")) link.classList.toggle("current", link.dataset.section === section);
    const campaign = hash.match(/^#\/campaigns\/([^/]+)$/);
    if (hash === "#/campaigns") renderCampaigns();
    else if (hash === "#/new") renderNew();
    else if (hash === "#/dnc") renderDNC();
    else if (campaign) renderCampaign(decodeURIComponent(campaign[1]));
    else location.hash = "#/campaigns";
  }

  document.getElementById("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  route();
})();
