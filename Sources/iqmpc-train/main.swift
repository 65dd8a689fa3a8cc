print("iqmpc-train: not yet built")
