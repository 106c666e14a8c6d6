"""Streamlit view helpers that pages share; pages stay thin and core never imports Streamlit."""
