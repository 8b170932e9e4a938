"""The per-ticket survey table from a ServiceNow ``asmt_metric_result`` export (preset ``servicenow_survey``)."""

from __future__ import annotations

from pathlib import Path

from ingest_exports import query, write_config, write_raw

from outcomes.ingest.load import run_ingest

#: Two questions per survey instance, as the list view of asmt_metric_result exports them.
EXPORT = """instance,instance.trigger_id,instance.taken_on,metric,actual_value
AINST0001,INC0000001,2025-01-06 12:00:00,Happiness,10
AINST0001,INC0000001,2025-01-06 12:00:00,Lost time,30
AINST0002,INC0000002,2025-01-11 09:30:00,Happiness,3
AINST0002,INC0000002,2025-01-11 09:30:00,Lost time,90
AINST0003,INC0000003,2025-01-21 10:00:00,Happiness,8
"""


def test_servicenow_survey_answers_become_one_row_per_answer(tmp_path: Path) -> None:
    write_raw(tmp_path, "asmt_metric_result.csv", EXPORT)
    cfg = write_config(
        tmp_path, {"ticket_surveys": {"preset": "servicenow_survey", "path": "asmt_metric_result.csv", "max_reject_share": 0.0}}
    )
    run_ingest(cfg)
    rows = query(
        tmp_path,
        "SELECT response_id, ticket_id, respondent_type, strftime(submitted_at, '%Y-%m-%d %H:%M'), happiness, lost_minutes "
        "FROM ticket_surveys ORDER BY response_id",
    )
    assert rows == [
        ("AINST0001", "INC0000001", None, "2025-01-06 12:00", 10, 30.0),
        ("AINST0002", "INC0000002", None, "2025-01-11 09:30", 3, 90.0),
        ("AINST0003", "INC0000003", None, "2025-01-21 10:00", 8, None),  # lost time not answered
    ]
