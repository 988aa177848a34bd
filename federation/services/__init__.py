"""Domain operations: functions taking the session explicitly; they flush, the caller commits."""
