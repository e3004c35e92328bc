"""Tests of experiment_manager."""
