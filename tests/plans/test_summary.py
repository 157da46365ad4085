"""Reading the summary of a plan from its text."""

from bot.plans.summary import Doomed, summarise

TERRAFORM = """\
Terraform used the selected providers to generate the following execution plan.

\x1b[1m  # aws_instance.web\x1b[0m will be destroyed
  - resource "aws_instance" "web" {
      - ami = "ami-123" -> null
    }

  # aws_db_instance.main must be replaced
-/+ resource "aws_db_instance" "main" {
    }

  # aws_s3_bucket.logs will be created
  + resource "aws_s3_bucket" "logs" {
    }

\x1b[1mPlan:\x1b[0m 2 to add, 1 to change, 2 to destroy.
"""


def test_terraform_counts_and_what_it_destroys():
    summary = summarise(TERRAFORM)
    assert summary.recognised
    assert (summary.to_add, summary.to_change, summary.to_destroy) == (2, 1, 2)
    assert summary.line == "Plan: 2 to add, 1 to change, 2 to destroy."
    assert summary.doomed == (
        Doomed("aws_instance.web", replaced=False),
        Doomed("aws_db_instance.main", replaced=True),
    )


def test_imports_are_counted():
    summary = summarise("Plan: 3 to import, 0 to add, 0 to change, 0 to destroy.\n")
    assert summary.to_import == 3
    assert summary.line == "Plan: 3 to import, 0 to add, 0 to change, 0 to destroy."


def test_no_changes():
    summary = summarise("No changes. Your infrastructure matches the configuration.\n")
    assert summary.recognised and summary.no_changes
    assert summary.line == "No changes."


def test_windows_line_ends_and_the_last_plan_line_counts():
    text = (
        "old run: Plan: 9 to add, 9 to change, 9 to destroy.\r\n"
        "Plan: 1 to add, 0 to change, 0 to destroy.\r\n"
    )
    summary = summarise(text)
    assert (summary.to_add, summary.to_destroy) == (1, 0)


def test_text_that_is_not_a_terraform_plan_claims_nothing():
    for text in ("", "hello\nworld", "\x00\x01 binary \xff", "Plan: many to add"):
        summary = summarise(text)
        assert not summary.recognised
        assert summary.doomed == ()


def test_a_huge_plan_lists_a_bounded_number_of_destroys():
    lines = [f"  # aws_instance.n{i} will be destroyed" for i in range(5000)]
    text = "\n".join(lines) + "\nPlan: 0 to add, 0 to change, 5000 to destroy.\n"
    summary = summarise(text)
    assert summary.to_destroy == 5000
    assert len(summary.doomed) == 50
    assert summary.doomed_unlisted == 4950
