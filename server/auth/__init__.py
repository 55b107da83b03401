"""Who is asking and what they may do: sessions and roles, the viewer of a request, the
cross-site guard, and the screen links that let a wall screen in."""
