"""The platform's own data: users, courses, enrollments, and what massive actions keep there."""
