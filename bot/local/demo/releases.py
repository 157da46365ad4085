"""Releases for the demo, made the way forest makes them: an annotated artifact, released with
the project's pipeline, run by forest's coordinator. Nobody publishes an approval-required event:
the bot finds the blocked stage by watching forest, as it would next to a real forest.

An app release goes to staging, then production (production needs two approvals). An infra
release plans production, waits for someone to approve the plan, then applies it. The page
plays forest's runner: it finishes the stage that runs (`finish`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.local.fake_forest import FakeForest, Stage, deploy, plan
from bot.local.fake_forest_pipelines import ACTIVE, PLAN
from bot.local.local_stack import ORGANISATION, PROJECT, LocalStack

RELEASE_AUTHORS = ("alice", "dave")
INFRA_PROJECT = "platform-infra"

APP_PIPELINE = (deploy("staging"), deploy("production", depends_on=["deploy-staging"]))
INFRA_PIPELINE = (plan("production"), deploy("production", depends_on=["plan-production"]))


@dataclass(frozen=True)
class SampleRelease:
    title: str
    description: str
    slug: str
    commit_sha: str
    pr: int


# Different titles make it easy to tell the messages in the channel apart.
SAMPLES = (
    SampleRelease(
        "fix: retry card captures on timeout (#812)",
        "Retries the capture call twice with jitter.",
        "evidently-assisting-ladybeetle",
        "9f2c1e7",
        812,
    ),
    SampleRelease(
        "hotfix: stop double refunds on partial captures (#819)",
        "A partial capture followed by a refund refunded the full amount.",
        "briskly-sorting-heron",
        "4ab09d2",
        819,
    ),
    SampleRelease(
        "feat: 3-D Secure challenge for EU cards (#815)",
        "Asks the card issuer for a challenge when the payment is above the SCA limit.",
        "calmly-mending-otter",
        "c71e5aa",
        815,
    ),
    SampleRelease(
        "chore: bump grpcio to 1.85 (#821)",
        "Keeps the generated code and the runtime in step.",
        "quietly-tuning-lynx",
        "0d3b8f4",
        821,
    ),
)

INFRA_SAMPLES = (
    SampleRelease(
        "infra: keep payments logs for 400 days (#77)",
        "The auditors ask for 13 months of payment logs; the bucket kept 90 days.",
        "boldly-charting-falcon",
        "e41a9c0",
        77,
    ),
    SampleRelease(
        "infra: a read replica for the payments database (#81)",
        "Reports move off the primary.",
        "gently-guarding-marten",
        "7d20b5f",
        81,
    ),
)

TERRAFORM_PLANS = (
    """Terraform used the selected providers to generate the following execution plan.
Resource actions are indicated with the following symbols:
  + create
  ~ update in-place

Terraform will perform the following actions:

  # aws_s3_bucket_lifecycle_configuration.payments_logs will be updated in-place
  ~ resource "aws_s3_bucket_lifecycle_configuration" "payments_logs" {
        id     = "acme-payments-logs"
        # (1 unchanged attribute hidden)

      ~ rule {
            id     = "expire-old-logs"
            status = "Enabled"

          ~ expiration {
              ~ days = 90 -> 400
            }
        }
    }

  # aws_s3_bucket_object_lock_configuration.payments_logs will be created
  + resource "aws_s3_bucket_object_lock_configuration" "payments_logs" {
      + bucket = "acme-payments-logs"
      + id     = (known after apply)

      + rule {
          + default_retention {
              + days = 400
              + mode = "GOVERNANCE"
            }
        }
    }

Plan: 1 to add, 1 to change, 0 to destroy.""",
    """Terraform used the selected providers to generate the following execution plan.
Resource actions are indicated with the following symbols:
  + create

Terraform will perform the following actions:

  # aws_db_instance.payments_replica will be created
  + resource "aws_db_instance" "payments_replica" {
      + identifier             = "payments-replica-1"
      + instance_class         = "db.r6g.large"
      + replicate_source_db    = "payments-primary"
      + publicly_accessible    = false
      + storage_encrypted      = true
      + endpoint               = (known after apply)
      + id                     = (known after apply)
    }

  # aws_route53_record.payments_reports will be created
  + resource "aws_route53_record" "payments_reports" {
      + name    = "reports.payments.internal.acme.io"
      + type    = "CNAME"
      + ttl     = 60
      + records = (known after apply)
    }

Plan: 2 to add, 0 to change, 0 to destroy.""",
)


@dataclass(frozen=True)
class Published:
    intent_id: str
    project: str
    title: str
    plan_output: str = ""


class SampleReleases:
    """Publishes the demo's releases in the fake forest and finishes their stages."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack
        self._published: list[Published] = []
        self._apps = 0
        self._infra = 0

    def prepare(self) -> None:
        """What the demo's forest needs beyond the local stack: the infra project and a second
        production destination, so that a plan shows one output per destination."""
        forest = self._stack.forest
        forest.add_project(ORGANISATION, INFRA_PROJECT)
        forest.add_destination(ORGANISATION, "production", "production-us-1")

    async def publish(self, author: str, kind: str = "app") -> str:
        """Release the next sample; returns the release intent id."""
        if author not in RELEASE_AUTHORS:
            raise ValueError(f"releases in the demo are written by {' or '.join(RELEASE_AUTHORS)}")
        if kind == "app":
            sample = SAMPLES[self._apps % len(SAMPLES)]
            plan_output = ""
            project, stages, self._apps = PROJECT, APP_PIPELINE, self._apps + 1
        elif kind == "infra":
            sample = INFRA_SAMPLES[self._infra % len(INFRA_SAMPLES)]
            plan_output = TERRAFORM_PLANS[self._infra % len(TERRAFORM_PLANS)]
            project, stages, self._infra = INFRA_PROJECT, INFRA_PIPELINE, self._infra + 1
        else:
            raise ValueError("a release is either 'app' (staging, production) or 'infra' (plan)")
        intent_id = await self._release(author, project, stages, sample)
        self._published.append(Published(intent_id, project, sample.title, plan_output))
        return intent_id

    async def finish(self, intent_id: str, stage_id: str, *, succeeded: bool = True) -> None:
        """Forest's runner finished the stage's releases (a plan prints its sample plan)."""
        published = self._find(intent_id)
        await self._stack.forest.finish_stage(
            intent_id,
            stage_id,
            status="SUCCEEDED" if succeeded else "FAILED",
            error_message=None if succeeded else "the runner reported a failed deploy",
            plan_output=published.plan_output or None,
        )

    def pipelines(self) -> list[dict[str, Any]]:
        """The demo's releases as forage would list them, newest first, for the page."""
        forest = self._stack.forest
        shown = []
        for published in reversed(self._published):
            intent = forest.intent(published.intent_id)
            pipeline = intent.pipeline
            assert pipeline is not None
            stages = []
            for stage_id, stage in pipeline.stages.items():
                run = pipeline.runs[stage_id]
                stages.append(
                    {
                        "stage_id": stage_id,
                        "label": _label(stage),
                        "status": run.status,
                        "approval_status": run.approval_status,
                        # the runner has work only while the stage's releases run
                        "can_finish": run.status == ACTIVE and run.approval_status is None
                        and any(not s.ended for s in pipeline.steps_of(stage_id)),
                    }
                )  # fmt: skip
            shown.append(
                {
                    "release_intent_id": published.intent_id,
                    "project": published.project,
                    "title": published.title,
                    "status": intent.status,
                    "stages": stages,
                }
            )
        return shown

    async def _release(
        self, author: str, project: str, stages: tuple[Stage, ...], sample: SampleRelease
    ) -> str:
        forest = self._stack.forest
        repo = f"https://github.com/{ORGANISATION}/{project}"
        if project == PROJECT:
            # released from the author's laptop with forest's CLI: the annotation is theirs
            person = forest.world.users[author]
            source: dict[str, Any] = {
                "source_user": author,
                "source_email": person.emails[0] if person.emails else None,
                "source_user_id": person.user_id,
                "source_type": "cli",
            }
        else:
            # infra changes are released by CI
            source = {
                "source_user": "github-actions",
                "source_type": "ci",
                "run_url": f"{repo}/actions/runs/{4700 + sample.pr}",
            }
        artifact = forest.add_artifact(
            ORGANISATION,
            project,
            title=sample.title,
            slug=_unique_slug(forest, sample.slug),
            description=sample.description,
            web=f"{forest.web_url}/orgs/{ORGANISATION}/projects/{project}/releases/{sample.slug}",
            pr=f"{repo}/pull/{sample.pr}",
            commit_sha=sample.commit_sha,
            branch="main",
            commit_message=sample.title,
            repo_url=repo,
            **source,
        )
        return await forest.release(ORGANISATION, project, stages, artifact=artifact, author=author)

    def _find(self, intent_id: str) -> Published:
        for published in self._published:
            if published.intent_id == intent_id:
                return published
        raise ValueError("that is not one of the demo's releases")


def _label(stage: Stage) -> str:
    verb = "plan" if stage.stage_type == PLAN else "deploy"
    return f"{verb} {stage.environment}" if stage.environment else stage.stage_id


def _unique_slug(forest: FakeForest, slug: str) -> str:
    """A sample published again gets a new slug, as a new artifact would."""
    taken = {a.slug for a in forest.releases.artifacts.values()}
    candidate, number = slug, 1
    while candidate in taken:
        number += 1
        candidate = f"{slug}-{number}"
    return candidate

