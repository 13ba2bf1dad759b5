"""Security analytics for admins (the admin's Analytics page): logins and failures over time, 2FA
adoption, risk score distribution, alerts by rule, the riskiest IPs and devices, and credits
issued, spent and paid out, over the last 24 hours (hourly buckets), 7 or 30 days (daily buckets).

- `windows.py`: the ranges, their buckets, and the SQL naming a row's bucket on either database;
- `figures.py`: what is counted, in SQL, per window (every function takes `(now, range_key)`
  and only reads);
- `charts.py`: the charts as plain geometry (`Plot`) that the template draws as SVG, and
  `dashboard`, everything the page shows.
"""

from services.analytics.charts import (
    Label,
    Plot,
    Series,
    columns,
    dashboard,
    rows,
)
from services.analytics.figures import (
    Adoption,
    AlertCount,
    AlertsByRule,
    CreditBucket,
    LoginBucket,
    RiskDistribution,
    RiskySource,
    ScoreBand,
    TwoFactorAdoption,
    alerts_by_rule,
    credits,
    humanize,
    logins,
    risk_distribution,
    top_risky_devices,
    top_risky_ips,
    two_factor_adoption,
)
from services.analytics.windows import RANGES, UnknownRange, Window, window

__all__ = [
    "RANGES",
    "Adoption",
    "AlertCount",
    "AlertsByRule",
    "CreditBucket",
    "Label",
    "LoginBucket",
    "Plot",
    "RiskDistribution",
    "RiskySource",
    "ScoreBand",
    "Series",
    "TwoFactorAdoption",
    "UnknownRange",
    "Window",
    "alerts_by_rule",
    "columns",
    "credits",
    "dashboard",
    "humanize",
    "logins",
    "risk_distribution",
    "rows",
    "top_risky_devices",
    "top_risky_ips",
    "two_factor_adoption",
    "window",
]
