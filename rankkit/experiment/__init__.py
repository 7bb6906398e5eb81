"""TOML experiments: the main job (``rankkit run eval/<name>.toml``)."""

from rankkit.experiment.config import ExperimentConfig, load_experiment
from rankkit.experiment.runner import Drift, ExperimentResult, ExperimentRunner, check_expected

__all__ = ["Drift", "ExperimentConfig", "ExperimentResult", "ExperimentRunner", "check_expected", "load_experiment"]
