"""Tests of the workflow language: documents, validation and the builder."""
