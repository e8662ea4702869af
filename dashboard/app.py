import streamlit as st
st.title("crossforce")
