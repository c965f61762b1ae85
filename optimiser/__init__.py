"""aidopt's planner: inputs -> epidemic -> demand -> allocation -> results -> exports."""
