"""The objects a patch adds, one module per kind: env entries, the downwardAPI volume, the ambassador container.

Each builder takes decisions (a ContainerPlan, the Config) and returns plain dicts in the apiserver's
defaulted form, so a pod read back from the cluster carries exactly what we wrote. A new kind of object
(the ambassador's own token volume, say) is a new module here, and a new line in webhook/core/patch.py.
"""
