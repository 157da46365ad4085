// forage's device-login page: shows which client asks and its code, and approves or denies it
// for the person signed in (by default the person picked on the demo's Slack page).
"use strict";

const PERSON_KEY = "demo.person";
const code = new URLSearchParams(location.search).get("code") || "";

function show(id, visible) {
  document.getElementById(id).hidden = !visible;
}

function tellOutcome(text, kind) {
  const outcome = document.getElementById("outcome");
  outcome.textContent = text;
  outcome.className = `forage-outcome ${kind}`;
  outcome.hidden = false;
}

async function decide(decision) {
  const username = document.getElementById("signed-in-as").value;
  const response = await fetch(`/forage/api/device/${decision}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code, username }),
  });
  const answer = await response.json().catch(() => ({ ok: false, error: "forage did not answer." }));
  show("request", false);
  if (!answer.ok) {
    tellOutcome(answer.error || "That did not work.", "denied");
  } else if (decision === "approve") {
    tellOutcome(`Approved as ${username}. You can close this tab: Slack tells you when you're linked.`, "approved");
  } else {
    tellOutcome("Denied. The device login will not get access.", "denied");
  }
}

async function load() {
  const response = await fetch(`/forage/api/device?code=${encodeURIComponent(code)}`);
  const request = await response.json();
  if (!request.pending) {
    show("not-pending", true);
    return;
  }
  document.getElementById("client-name").textContent = request.client_name;
  document.getElementById("user-code").textContent = request.code;
  const select = document.getElementById("signed-in-as");
  for (const person of request.people) select.appendChild(new Option(person, person));
  const picked = localStorage.getItem(PERSON_KEY);
  if (picked && request.people.includes(picked)) select.value = picked;
  show("request", true);
}

document.getElementById("approve").addEventListener("click", () => decide("approve"));
document.getElementById("deny").addEventListener("click", () => decide("deny"));
load();
