"""Test support that ships with the server: builders of TF Serving-shaped test models."""
