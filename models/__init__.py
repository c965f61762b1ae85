"""The epidemic model: a metapopulation SEIR on scipy ODEs."""

from models.seir import COMPARTMENTS, SEIRParameters, integrate, to_dataset, weekly_to_daily

__all__ = ["COMPARTMENTS", "SEIRParameters", "integrate", "to_dataset", "weekly_to_daily"]
