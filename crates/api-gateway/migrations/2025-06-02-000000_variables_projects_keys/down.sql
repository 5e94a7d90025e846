DROP TABLE api_keys;
DROP TABLE projects;
DROP TRIGGER functions_drop_vars ON functions;
DROP FUNCTION variables_drop_function_vars();
DROP TABLE variables;
