"""Instruction Workbench core: all logic, no Streamlit."""
