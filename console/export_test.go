package console

// ActionRoutes lets the tests walk every action.
var ActionRoutes = actionRoutes
