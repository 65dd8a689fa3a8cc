print("iqmpc-runtime: not yet built")
