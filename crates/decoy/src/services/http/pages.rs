//! The pages of the fake applications the http decoy can be (`fake_app`): WordPress,
//! phpMyAdmin, Jenkins and Tomcat, as their real login pages look. Whatever an attacker
//! typed and is shown again is HTML-escaped.

use super::escape_html;

pub(super) fn wordpress_home(host: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head>\n<meta charset=\"UTF-8\" />\n<meta name=\"generator\" content=\"WordPress 6.4.3\" />\n\
         <title>{host} &#8211; Just another WordPress site</title>\n<link rel='stylesheet' href='/wp-includes/css/dist/block-library/style.min.css?ver=6.4.3' />\n\
         <link rel=\"https://api.w.org/\" href=\"/index.php?rest_route=/\" />\n</head>\n<body class=\"home blog\">\n<h1 class=\"site-title\">{host}</h1>\n\
         <article><h2><a href=\"/?p=1\">Hello world!</a></h2><p>Welcome to WordPress. This is your first post. Edit or delete it, then start writing!</p></article>\n\
         <footer><a href=\"/wp-login.php\">Log in</a></footer>\n</body>\n</html>\n",
        host = escape_html(host)
    )
}

pub(super) fn wordpress_login(host: &str, failed_user: Option<&str>) -> String {
    let error = failed_user.map_or_else(String::new, |user| {
        format!(
            "<div id=\"login_error\"><strong>Error:</strong> The password you entered for the username <strong>{}</strong> is incorrect. \
             <a href=\"/wp-login.php?action=lostpassword\">Lost your password?</a><br /></div>\n",
            escape_html(user)
        )
    });
    format!(
        "<!DOCTYPE html>\n<html lang=\"en-US\">\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n\
         <title>Log In &lsaquo; {host} &#8212; WordPress</title>\n<meta name='robots' content='max-image-preview:large, noindex, noarchive' />\n\
         <link rel='stylesheet' id='login-css' href='/wp-admin/css/login.min.css?ver=6.4.3' media='all' />\n</head>\n\
         <body class=\"login no-js login-action-login wp-core-ui  locale-en-us\">\n<div id=\"login\">\n<h1><a href=\"https://wordpress.org/\">Powered by WordPress</a></h1>\n\
         {error}<form name=\"loginform\" id=\"loginform\" action=\"/wp-login.php\" method=\"post\">\n\
         <p><label for=\"user_login\">Username or Email Address</label>\n<input type=\"text\" name=\"log\" id=\"user_login\" class=\"input\" value=\"\" size=\"20\" autocapitalize=\"off\" autocomplete=\"username\" required=\"required\" /></p>\n\
         <div class=\"user-pass-wrap\"><label for=\"user_pass\">Password</label>\n<input type=\"password\" name=\"pwd\" id=\"user_pass\" class=\"input password-input\" value=\"\" size=\"20\" autocomplete=\"current-password\" required=\"required\" /></div>\n\
         <p class=\"forgetmenot\"><input name=\"rememberme\" type=\"checkbox\" id=\"rememberme\" value=\"forever\"  /> <label for=\"rememberme\">Remember Me</label></p>\n\
         <p class=\"submit\"><input type=\"submit\" name=\"wp-submit\" id=\"wp-submit\" class=\"button button-primary button-large\" value=\"Log In\" />\n\
         <input type=\"hidden\" name=\"redirect_to\" value=\"/wp-admin/\" /><input type=\"hidden\" name=\"testcookie\" value=\"1\" /></p>\n</form>\n</div>\n</body>\n</html>\n",
        host = escape_html(host)
    )
}

pub(super) fn phpmyadmin_login(failed_user: Option<&str>) -> String {
    let error = failed_user.map_or_else(String::new, |_| {
        "<div class=\"alert alert-danger\" role=\"alert\"><img src=\"themes/dot.gif\" title=\"\" alt=\"\" class=\"icon ic_s_error\"> \
         mysqli::real_connect(): (HY000/1045): Access denied for user</div>\n<div class=\"alert alert-danger\" role=\"alert\">Cannot log in to the MySQL server</div>\n"
            .to_owned()
    });
    format!(
        "<!DOCTYPE HTML>\n<html lang=\"en\" dir=\"ltr\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"robots\" content=\"noindex,nofollow\">\n<title>phpMyAdmin</title>\n\
         <link rel=\"stylesheet\" type=\"text/css\" href=\"./themes/pmahomme/css/theme.css?v=5.2.1\">\n</head>\n<body id=\"loginform\">\n\
         <div class=\"container\">\n<a href=\"./url.php?url=https%3A%2F%2Fwww.phpmyadmin.net%2F\" target=\"_blank\" rel=\"noopener noreferrer\" class=\"logo\">\
         <img src=\"./themes/pmahomme/img/logo_right.png\" id=\"imLogo\" name=\"imLogo\" alt=\"phpMyAdmin\" border=\"0\"></a>\n\
         <h1>Welcome to <bdo dir=\"ltr\" lang=\"en\">phpMyAdmin</bdo></h1>\n{error}\
         <form method=\"post\" id=\"login_form\" action=\"index.php?route=/\" name=\"login_form\" class=\"disableAjax hide js-show\">\n\
         <fieldset class=\"pma-fieldset\"><legend>Log in</legend>\n\
         <div class=\"item\"><label for=\"input_username\">Username:</label><input type=\"text\" name=\"pma_username\" id=\"input_username\" value=\"\" size=\"24\" class=\"textfield\" autocomplete=\"username\"></div>\n\
         <div class=\"item\"><label for=\"input_password\">Password:</label><input type=\"password\" name=\"pma_password\" id=\"input_password\" value=\"\" size=\"24\" class=\"textfield\" autocomplete=\"current-password\"></div>\n\
         <input type=\"hidden\" name=\"server\" value=\"1\"></fieldset>\n<fieldset class=\"pma-fieldset tblFooters\"><input class=\"btn btn-primary\" value=\"Go\" type=\"submit\" id=\"input_go\">\n\
         <input type=\"hidden\" name=\"route\" value=\"/\"><input type=\"hidden\" name=\"lang\" value=\"en\"></fieldset>\n</form>\n</div>\n</body>\n</html>\n"
    )
}

pub(super) fn jenkins_login(failed: bool) -> String {
    let error = if failed { "<div class=\"alert alert-danger\">Invalid username or password</div>" } else { "" };
    format!(
        "<!DOCTYPE html><html lang=\"en-US\"><head resURL=\"/static/7f1c2a3b\" data-rooturl=\"\"><title>Sign in [Jenkins]</title>\
         <meta name=\"ROBOTS\" content=\"NOFOLLOW\"><link rel=\"stylesheet\" href=\"/static/7f1c2a3b/jsbundles/simple-page.css\" type=\"text/css\"></head>\
         <body><div class=\"simple-page\" role=\"main\"><div class=\"modal login\"><div id=\"loginIntroDefault\"><div class=\"logo\"></div>\
         <h1>Welcome to Jenkins!</h1></div><form method=\"post\" name=\"login\" action=\"j_spring_security_check\">{error}\
         <div class=\"jenkins-form-item jenkins-form-item--tight\"><input autocorrect=\"off\" autocomplete=\"off\" name=\"j_username\" id=\"j_username\" \
         placeholder=\"Username\" type=\"text\" class=\"jenkins-input normal\" autocapitalize=\"off\" aria-label=\"Username\"></div>\
         <div class=\"jenkins-form-item jenkins-form-item--tight\"><input name=\"j_password\" placeholder=\"Password\" type=\"password\" class=\"jenkins-input normal\" aria-label=\"Password\"></div>\
         <div class=\"jenkins-checkbox\"><input type=\"checkbox\" id=\"remember_me\" name=\"remember_me\"><label for=\"remember_me\">Keep me signed in</label></div>\
         <input name=\"from\" type=\"hidden\"><div class=\"submit\"><button type=\"submit\" name=\"Submit\" class=\"jenkins-button jenkins-button--primary\">Sign in</button></div></form>\
         <div class=\"footer\"></div></div></div></body></html>"
    )
}

pub(super) const TOMCAT_HOME: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"UTF-8\" />\n        <title>Apache Tomcat/9.0.85</title>\n\
    <link href=\"favicon.ico\" rel=\"icon\" type=\"image/x-icon\" />\n        <link href=\"tomcat.css\" rel=\"stylesheet\" type=\"text/css\" />\n    </head>\n\
    <body>\n        <div id=\"wrapper\">\n            <div id=\"navigation\" class=\"curved container\">\n                <span id=\"nav-home\"><a href=\"https://tomcat.apache.org/\">Home</a></span>\n\
    </div>\n            <div id=\"asf-box\"><h1>Apache Tomcat/9.0.85</h1></div>\n            <div id=\"congrats\" class=\"curved container\">\n\
    <h2>If you're seeing this, you've successfully installed Tomcat. Congratulations!</h2>\n            </div>\n\
    <div class=\"col25\"><div class=\"container\"><div class=\"button\"><a class=\"container shadow\" href=\"/manager/status\"><span>Server Status</span></a></div>\n\
    <div class=\"button\"><a class=\"container shadow\" href=\"/manager/html\"><span>Manager App</span></a></div>\n\
    <div class=\"button\"><a class=\"container shadow\" href=\"/host-manager/html\"><span>Host Manager</span></a></div></div></div>\n        </div>\n    </body>\n</html>\n";

pub(super) const TOMCAT_401: &str = "<!doctype html><html lang=\"en\"><head><title>401 Unauthorized</title></head><body><h1>401 Unauthorized</h1>\n\
    <p>You are not authorized to view this page. If you have not changed any configuration files, please examine the file \
    <tt>conf/tomcat-users.xml</tt> in your installation.</p></body></html>";
