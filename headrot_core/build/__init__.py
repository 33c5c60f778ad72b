"""Building the assets the runtime core reads: the DDIM model (``training``), the embedding network
(``embedding``), the yaw network (``yaw_net``), the gender classifier (``gender``), the face model
(``face_fit``), the landmark labels (``labels``), the yaw lines (``fitting``) and their calibration
(``calibration``), all from the datasets that ``data`` reads. Nothing in the runtime core imports this package."""
