"""Analysis of scores: gains with confidence intervals, encoder-decoder divergence, by language.

Input contract: `xstilts.analysis.scores` (a DataFrame of scores, optional per-example arrays).
Every result carries `description`, one plain-English sentence saying what it shows or tests.
"""

from xstilts.analysis.divergence import (
    DivergenceTable,
    FamilyLabelTest,
    InteractionTable,
    InteractionTest,
    MixedModelResult,
    RankAgreementTable,
    divergence_table,
    family_label_test,
    family_rank_agreement,
    interaction_test,
    interaction_tests,
    mixed_model_interaction,
)
from xstilts.analysis.gains import GainTable, GapTable, gain_table, transfer_gap_table
from xstilts.analysis.language import LanguageGroupTable, LanguageRelationTable, language_group_table, language_relation
from xstilts.analysis.scores import BASELINE, FAMILIES, REQUIRED_COLUMNS, validate_scores
from xstilts.analysis.stats import (
    Interval,
    RankAgreement,
    benjamini_hochberg,
    difference_interval,
    example_bootstrap_ci,
    hierarchical_bootstrap_ci,
    holm,
    rank_agreement,
    seeds_and_examples_interval,
    t_interval,
)

__all__ = [
    "BASELINE",
    "FAMILIES",
    "REQUIRED_COLUMNS",
    "DivergenceTable",
    "FamilyLabelTest",
    "GainTable",
    "GapTable",
    "InteractionTable",
    "InteractionTest",
    "Interval",
    "LanguageGroupTable",
    "LanguageRelationTable",
    "MixedModelResult",
    "RankAgreement",
    "RankAgreementTable",
    "benjamini_hochberg",
    "difference_interval",
    "divergence_table",
    "example_bootstrap_ci",
    "family_label_test",
    "family_rank_agreement",
    "gain_table",
    "hierarchical_bootstrap_ci",
    "holm",
    "interaction_test",
    "interaction_tests",
    "language_group_table",
    "language_relation",
    "mixed_model_interaction",
    "rank_agreement",
    "seeds_and_examples_interval",
    "t_interval",
    "transfer_gap_table",
    "validate_scores",
]
