"""Scripted experts with the Teleop interface; built through `sim.registry.make_expert`."""
