# The trigger function serves no HTTP; Django still wants a URLconf.
urlpatterns: list[object] = []
