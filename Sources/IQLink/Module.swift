/// IQLink: see README.md (module layout). This file marks the module until its owner fills it.
public enum IQLinkModule {}
