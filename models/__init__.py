"""The epidemic model: a metapopulation SEIR on scipy ODEs, and its adjoint."""

from models.seir import AID, COMPARTMENTS, SEIRParameters, integrate, to_dataset, weekly_to_daily

__all__ = ["AID", "COMPARTMENTS", "SEIRParameters", "integrate", "to_dataset", "weekly_to_daily"]
