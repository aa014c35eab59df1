"""Edge devices (one agent per village hall): registration, enrolment, tokens."""
