"""Prometheus metrics, in a registry of our own (no module-level state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "approvals_events_total",
            "Approval-required events handled, by result.",
            ["result"],
            registry=r,
        )
        self.set_aside = Counter(
            "approvals_events_set_aside_total",
            "Events moved to the dead-letter subject.",
            ["reason"],
            registry=r,
        )
        self.messages_posted = Counter(
            "approvals_messages_posted_total", "Approval messages posted to Slack.", registry=r
        )
        self.messages_updated = Counter(
            "approvals_messages_updated_total", "Approval messages updated in place.", registry=r
        )
        self.votes = Counter(
            "approvals_votes_total",
            "Votes cast from Slack, by kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.plan_decisions = Counter(
            "approvals_plan_decisions_total",
            "Plan decisions made from Slack, by kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.slack_errors = Counter(
            "approvals_slack_errors_total",
            "Slack Web API errors, by method and error code.",
            ["method", "error"],
            registry=r,
        )
        self.forest_errors = Counter(
            "approvals_forest_errors_total",
            "Forest gRPC errors, by status code.",
            ["code"],
            registry=r,
        )
        self.open_approvals = Gauge(
            "approvals_open", "Approval messages still waiting for an outcome.", registry=r
        )
        self.slack_calls_waiting = Gauge(
            "approvals_slack_calls_waiting",
            "Slack calls queued for their turn inside Slack's rate limits.",
            registry=r,
        )
        self.forest_latency = Histogram(
            "approvals_forest_call_seconds", "Forest call latency.", ["method"], registry=r
        )
        self.watch_events = Counter(
            "approvals_watch_events_total",
            "Events of forest's org event log the watch received, by resource type.",
            ["resource_type"],
            registry=r,
        )
        self.watch_reconnects = Counter(
            "approvals_watch_reconnects_total",
            "Times the watch subscribed to forest's event log again after it ended or failed.",
            registry=r,
        )
        self.watch_following = Gauge(
            "approvals_watch_following",
            "1 while this process follows forest's event log (holds the lease and is connected).",
            registry=r,
        )
        self.slack_events_dropped = Counter(
            "approvals_slack_app_rate_limited_total",
            "Times Slack reported dropping events for the app (app_rate_limited).",
            registry=r,
        )
        self.slack_latency = Histogram(
            "approvals_slack_call_seconds",
            "Slack Web API call latency, retries included.",
            ["method"],
            registry=r,
        )
