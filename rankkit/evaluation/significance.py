"""Paired significance tests of systems against a baseline, with multiple-testing correction.

Each non-baseline system is compared with the baseline on each measure, paired
over the queries both results have. The tests are scipy's
(``scipy.stats.ttest_rel`` or ``scipy.stats.wilcoxon``, two-sided, default
options) and the correction is statsmodels' ``multipletests``.

**Correction family.** The correction is applied once, over *all*
system × measure comparisons against the baseline (``(len(results) - 1) ×
len(measures)`` p-values), which is the conservative choice: the family-wise
error rate is controlled across everything the report marks.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from rankkit.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from rankkit.evaluation.evaluate import EvalResult

Test = Literal["paired-t", "wilcoxon"]
Correction = Literal["holm", "bonferroni", "none"]
TESTS: tuple[str, ...] = get_args(Test)
CORRECTIONS: tuple[str, ...] = get_args(Correction)

COLUMNS = (
    "system", "measure", "n_queries", "mean", "baseline_mean", "delta", "p_value", "p_adjusted",
    "significant", "improved", "degraded", "unchanged",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class Comparison:
    """Systems compared with a baseline.

    Attributes:
        frame: Tidy table, one row per (system, measure), with columns
            ``system, measure, n_queries, mean, baseline_mean, delta, p_value,
            p_adjusted, significant, improved, degraded, unchanged``. ``mean``
            and ``baseline_mean`` are over the paired queries; ``improved`` /
            ``degraded`` / ``unchanged`` count those queries by the sign of
            system minus baseline.
        baseline: The baseline's name.
        test: ``"paired-t"`` or ``"wilcoxon"``.
        correction: ``"holm"``, ``"bonferroni"`` or ``"none"``.
        alpha: The family-wise significance level.
    """

    frame: pd.DataFrame
    baseline: str
    test: str
    correction: str
    alpha: float

    def to_frame(self) -> pd.DataFrame:
        """A copy of the tidy comparison table."""
        return self.frame.copy()

    def row(self, system: str, measure: str) -> dict[str, object] | None:
        """The comparison of one system on one measure, or ``None`` (e.g. for the baseline)."""
        match = self.frame[(self.frame["system"] == system) & (self.frame["measure"] == measure)]
        return None if match.empty else match.iloc[0].to_dict()

    def is_significant(self, system: str, measure: str) -> bool:
        """Whether the system differs significantly from the baseline (after correction)."""
        row = self.row(system, measure)
        return bool(row is not None and row["significant"])

    def describe(self) -> str:
        """One sentence naming the test, correction, family and level, for legends."""
        test = "two-sided paired t-test" if self.test == "paired-t" else "two-sided Wilcoxon signed-rank test"
        if self.correction == "none":
            how = "without multiple-testing correction"
        else:
            how = f"{self.correction.capitalize()}-corrected over all {len(self.frame)} system×measure comparisons"
        return f"{test} against {self.baseline!r}, {how}, α = {self.alpha:g}"


def paired_p_value(diffs: np.ndarray, test: str) -> float:
    """Two-sided p-value of a paired test on per-query differences.

    Degenerate inputs get defined values instead of NaN and warnings: all
    differences zero (or fewer than two pairs) gives 1.0; a non-zero constant
    difference gives 0.0 for the t-test (zero variance, infinite t).

    Args:
        diffs: System minus baseline, one value per paired query.
        test: ``"paired-t"`` or ``"wilcoxon"``.

    Returns:
        The p-value in [0, 1].
    """
    from scipy import stats

    if len(diffs) < 2 or not np.any(diffs):
        return 1.0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if test == "paired-t":
            if np.all(diffs == diffs[0]):
                return 0.0
            p = stats.ttest_rel(diffs, np.zeros_like(diffs)).pvalue
        else:
            p = stats.wilcoxon(diffs).pvalue
    p = float(p)
    return 1.0 if np.isnan(p) else p


def adjust(p_values: np.ndarray, correction: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Adjust p-values with statsmodels' ``multipletests``.

    Args:
        p_values: The family's raw p-values.
        correction: ``"holm"``, ``"bonferroni"`` or ``"none"``.
        alpha: The family-wise level.

    Returns:
        Adjusted p-values and the reject (significant) flags.
    """
    if len(p_values) == 0:
        return np.empty(0), np.empty(0, dtype=bool)
    if correction == "none":
        return p_values.copy(), p_values <= alpha
    from statsmodels.stats.multitest import multipletests

    reject, adjusted, _, _ = multipletests(p_values, alpha=alpha, method=correction)
    return np.asarray(adjusted, dtype=float), np.asarray(reject, dtype=bool)


def compare(
    results: Mapping[str, EvalResult],
    baseline: str,
    test: Test = "paired-t",
    correction: Correction = "holm",
    alpha: float = 0.05,
) -> Comparison:
    """Compare every system with the baseline on every measure.

    Args:
        results: Evaluation results by system name (the baseline among them).
        baseline: The baseline's name.
        test: ``"paired-t"`` (scipy ``ttest_rel``) or ``"wilcoxon"`` (scipy ``wilcoxon``).
        correction: ``"holm"``, ``"bonferroni"`` or ``"none"``, applied over all
            system × measure comparisons (see the module docstring).
        alpha: The family-wise significance level.

    Returns:
        The :class:`Comparison`.

    Raises:
        ConfigError: On an unknown baseline, test or correction, or alpha outside (0, 1).
    """
    import pandas as pd

    if baseline not in results:
        raise ConfigError(f"unknown baseline {baseline!r}; choose one of the systems: {sorted(results)}")
    if test not in TESTS:
        raise ConfigError(f"unknown significance test {test!r}; choose one of {list(TESTS)}")
    if correction not in CORRECTIONS:
        raise ConfigError(f"unknown correction {correction!r}; choose one of {list(CORRECTIONS)}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    base = results[baseline]
    rows = []
    for system, result in results.items():
        if system == baseline:
            continue
        for measure in base.measures:
            if measure not in result.aggregate:
                raise ConfigError(
                    f"system {system!r} was not evaluated with {measure!r}, which baseline {baseline!r} "
                    f"has; evaluate all systems with the same measures (it has {result.measures})"
                )
            rows.append(_compare_one(system, measure, result.values(measure), base.values(measure), test))
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("p_adjusted", "significant")])
    adjusted, significant = adjust(frame["p_value"].to_numpy(dtype=float), correction, alpha)
    frame.insert(7, "p_adjusted", adjusted)
    frame.insert(8, "significant", significant.astype(bool))
    return Comparison(frame[list(COLUMNS)], baseline, test, correction, alpha)


def _compare_one(system: str, measure: str, values: pd.Series, base: pd.Series, test: str) -> dict[str, object]:
    paired = base.to_frame("base").join(values.rename("sys"), how="inner")
    diffs = (paired["sys"] - paired["base"]).to_numpy(dtype=float)
    n = len(diffs)
    mean = float(paired["sys"].mean()) if n else float("nan")
    base_mean = float(paired["base"].mean()) if n else float("nan")
    return {
        "system": system,
        "measure": measure,
        "n_queries": n,
        "mean": mean,
        "baseline_mean": base_mean,
        "delta": mean - base_mean,
        "p_value": paired_p_value(diffs, test),
        "improved": int((diffs > 0).sum()),
        "degraded": int((diffs < 0).sum()),
        "unchanged": int((diffs == 0).sum()),
    }
