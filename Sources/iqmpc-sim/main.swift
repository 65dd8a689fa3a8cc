print("iqmpc-sim: not yet built")
