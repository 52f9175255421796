"""Hand tracking: Kalman box model, IoU association, SORT."""
