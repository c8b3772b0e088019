"""The arena web page: a playground that streams models side by side, blind votes, and a
leaderboard where quality (Bradley-Terry ratings), speed and money are read together."""
