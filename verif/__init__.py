"""Reusable verification components: simulator runner, valid/ready stream agents, pyuvm
environment base classes (scoreboard, coverage subscriber) and seeding."""
