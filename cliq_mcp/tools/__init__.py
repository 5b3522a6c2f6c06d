"""The tools: the catalogue row, the catalogue, inputs, what a call returns, walks over many chats, people."""
